"""``backend: transformers``: any causal LM that ``AutoModelForCausalLM`` loads, on CPU or one GPU, in-process.

- ``model``: a local path, a hub id, or ``"embedded"``; ``model_id`` is that string.
- Device ``auto``: CUDA when available, else CPU; dtype ``auto``: float32 on CPU,
  bfloat16 (else float16) on CUDA. Chat prompts go through the chat template.
- ``generate``: ``batch_size`` prompts per call, left-padded, sorted by length;
  sampling by temperature and top-p only (no top-k); ``seed`` seeds torch once per
  call (same call, same seed, same output). ``tokens`` counts up to and including
  EOS; finish ``stop`` (EOS or a stop string, text cut before it) or ``length``.
  ``top_logprobs=m`` keeps a batch's raw logits in memory: use small batches.
- ``logprobs``: prompt and continuation tokenized separately and joined, so only the
  continuation's own tokens are scored, in sub-batches of ``_LOGIT_BUDGET`` floats.
Details: docs/backends.md.
"""

from __future__ import annotations

import gc
import inspect
import logging
from typing import Any, Sequence

from synthkit.errors import ConfigError
from synthkit.llm._common import check_prompt, continuation_ids, cut_at_stop, prompt_ids
from synthkit.llm.base import Completion, LLMConfig, Prompt, SamplingParams, TokenLogprobs

log = logging.getLogger(__name__)

_LOGIT_BUDGET = 64 * 1024 * 1024  # floats of logits held at once by logprobs() (256 MB in fp32)


def _pick_device_dtype(config: LLMConfig) -> tuple[str, Any]:
    import torch

    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if config.dtype == "auto":
        if device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
    else:
        dtype = getattr(torch, config.dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise ConfigError(f"llm.dtype: unknown dtype {config.dtype!r}; use float32, bfloat16, float16 or auto")
    return device, dtype


class TransformersLLM:
    """In-process Hugging Face model implementing the ``LLM`` protocol."""

    def __init__(self, config: LLMConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from synthkit.llm.embedded import resolve_model

        self.config = config
        self.model_id = config.model
        if config.threads:  # two jobs that each spin up every core slow each other down many times over
            torch.set_num_threads(config.threads)
        path = resolve_model(config.model)
        self.device, dtype = _pick_device_dtype(config)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        except OSError as e:
            raise ConfigError(f"llm.model: cannot load {config.model!r} ({e})") from e
        self.model = model.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        eos = self.model.generation_config.eos_token_id
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        self._eos = {eos} if isinstance(eos, int) else set(eos or [])
        self._pad = self.tokenizer.pad_token_id
        self._stops = self._eos | {self._pad}
        self._torch = torch
        # older/remote architectures may lack it; then the full logits are computed and sliced
        self._keeps_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        log.info("loaded %s on %s (%s)", config.model, self.device, dtype)

    # ---- prompts -------------------------------------------------------

    def _encode_all(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        for i, p in enumerate(prompts):
            check_prompt(p, i)
        return [prompt_ids(self.tokenizer, p) for p in prompts]

    def _left_pad(self, seqs: list[list[int]]) -> tuple[Any, Any]:
        torch = self._torch
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            if s:
                ids[i, width - len(s):] = torch.tensor(s)
                mask[i, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    # ---- generate ------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        if not prompts:
            return []
        encoded = self._encode_all(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        if params.seed is not None:
            self._torch.manual_seed(params.seed)
        out: list[list[Completion]] = [[] for _ in prompts]
        bs = self.config.batch_size
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            comps = self._generate_batch([encoded[i] for i in idx], params)
            for i, c in zip(idx, comps):
                out[i] = c
        return out

    def _gen_kwargs(self, params: SamplingParams, copies: int) -> dict[str, Any]:
        kw: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens,
            num_return_sequences=copies,
            pad_token_id=self._pad,
            return_dict_in_generate=True,
            output_logits=params.top_logprobs > 0,
        )
        if params.temperature > 0:
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kw.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        return kw

    def _generate_batch(self, seqs: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        copies = params.n if params.temperature > 0 else 1
        ids, mask = self._left_pad(seqs)
        with self._torch.inference_mode():
            res = self.model.generate(input_ids=ids, attention_mask=mask, **self._gen_kwargs(params, copies))
        gen = res.sequences[:, ids.shape[1]:].tolist()
        tops = self._top_logprobs(res.logits, params.top_logprobs) if params.top_logprobs > 0 else None
        out = []
        for p, seq in enumerate(seqs):
            comps = []
            for c in range(copies):
                row = p * copies + c
                comps.append(self._completion(gen[row], len(seq), params, tops[row] if tops else None))
            out.append(comps if copies == params.n else [_copy(comps[0]) for _ in range(params.n)])
        return out

    def _completion(self, toks: list[int], n_prompt: int, params: SamplingParams, top: list | None) -> Completion:
        end = next((j for j, t in enumerate(toks) if t in self._stops), None)
        hit_eos = end is not None and toks[end] in self._eos
        count = len(toks) if end is None else end + (1 if hit_eos else 0)
        text = self.tokenizer.decode(toks[:count], skip_special_tokens=True)
        text, hit = cut_at_stop(text, params.stop)
        if hit:
            finish = "stop"
        elif count >= params.max_tokens and not hit_eos:
            finish = "length"
        else:
            finish = "stop"
        return Completion(text, count, finish, n_prompt, top[:count] if top is not None else None)

    def _top_logprobs(self, logits: tuple, m: int) -> list[list[dict[str, float]]]:
        torch = self._torch
        steps = torch.stack(logits, dim=1).float().log_softmax(-1)  # (rows, steps, vocab)
        vals, ids = steps.topk(m, dim=-1)
        del steps
        flat = ids.reshape(-1).tolist()
        words = self.tokenizer.batch_decode([[t] for t in flat])
        vals = vals.reshape(-1).tolist()
        rows, n_steps = ids.shape[0], ids.shape[1]
        out = []
        for r in range(rows):
            per_step = []
            for s in range(n_steps):
                base = (r * n_steps + s) * m
                d: dict[str, float] = {}
                for j in range(m):
                    d.setdefault(words[base + j], vals[base + j])
                per_step.append(d)
            out.append(per_step)
        return out

    # ---- logprobs ------------------------------------------------------

    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[TokenLogprobs]:
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        pairs = list(zip(self._encode_all(prompts), (continuation_ids(self.tokenizer, c) for c in continuations)))
        out: list[TokenLogprobs | None] = [None] * len(pairs)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        start = 0
        while start < len(order):
            idx = self._logprob_chunk(order, start, pairs)
            scores = self._score_batch([pairs[i] for i in idx])
            for i, s in zip(idx, scores):
                out[i] = s
            start += len(idx)
        return out  # type: ignore[return-value]

    def _logprob_chunk(self, order: list[int], start: int, pairs: list) -> list[int]:
        """Up to batch_size items whose kept logits fit in ``_LOGIT_BUDGET`` floats."""
        vocab = self.model.config.get_text_config().vocab_size
        idx = [order[start]]
        keep = len(pairs[order[start]][1]) + 1
        for i in order[start + 1: start + self.config.batch_size]:
            k = max(keep, len(pairs[i][1]) + 1)
            if (len(idx) + 1) * k * vocab > _LOGIT_BUDGET:
                break
            idx.append(i)
            keep = k
        return idx

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[TokenLogprobs]:
        torch = self._torch
        ids, mask = self._left_pad([p + c for p, c in pairs])
        keep = max(len(c) for _, c in pairs) + 1
        if ids.shape[1] < keep:  # a continuation with an empty prompt: nothing predicts its first token
            keep = ids.shape[1]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            kw = {"logits_to_keep": keep} if self._keeps_logits else {}
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, **kw).logits
            logits = logits[:, logits.shape[1] - keep:]  # a no-op when the model kept only these
            # logits[:, j] predicts token at position width-keep+j+1
            logp = logits[:, :-1].float().log_softmax(-1)
            targets = ids[:, ids.shape[1] - keep + 1:]
            picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        out = []
        for row, (p, c) in enumerate(pairs):
            n = min(len(c), keep - 1)
            total = picked[row, picked.shape[1] - n:].sum().item() if n else 0.0
            out.append(TokenLogprobs(float(total), n))
        return out

    def close(self) -> None:
        self.model = None
        gc.collect()
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()


def _copy(c: Completion) -> Completion:
    return Completion(c.text, c.tokens, c.finish_reason, c.prompt_tokens,
                      list(c.top_logprobs) if c.top_logprobs is not None else None)
