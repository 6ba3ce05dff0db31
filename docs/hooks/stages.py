"""mkdocs hook: docs/stages.md is rendered at build time from the configs themselves
(``synthkit.reference.reference_markdown``), so the stage reference cannot go stale."""

from mkdocs.structure.files import File


def on_files(files, config):
    from synthkit.reference import reference_markdown

    files.append(File.generated(config, "stages.md", content=reference_markdown()))
    return files
