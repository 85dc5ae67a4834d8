"""Public figures the demo fleet is calibrated to (docs/calibration.md explains each one).

Throughput: how many tokens (prompt + completion) a fully busy GPU serves per second. The demo's
requests are generated at the rate these figures allow for the busy time its telemetry shows, so
that its cost per useful token is what such a fleet would really cost. Prices: the instance
prices in ``synth.fleet.INSTANCE_TYPES`` and the API prices of the bundled LiteLLM book
(``pipelines/reference/model_prices.json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# NVIDIA TensorRT-LLM, "Performance Overview" (docs/source/performance/perf-overview.md),
# max-throughput runs of trtllm-bench on DGX H100, ISL/OSL 1000/1000, FP8 weights; the table
# quotes output tokens per second, and input equals output at 1000/1000, so prompt + completion
# tokens per second are twice the figure.
TRTLLM_PERF_OVERVIEW = (
    "https://github.com/NVIDIA/TensorRT-LLM/blob/main/docs/source/performance/perf-overview.md"
)
H100_LLAMA_70B_TP2_OUTPUT_TOKENS_PER_S = 4205  # Llama 3.3 70B, H100 TP2 (two GPUs)
H100_LLAMA_8B_TP1_OUTPUT_TOKENS_PER_S = 15220  # Llama 3.1 8B, H100 TP1 (one GPU)

# Decoding is bound by memory bandwidth: another GPU serves in proportion to its bandwidth
# (NVIDIA data sheets: H100 SXM 3.35 TB/s, A100 40GB SXM 1.555 TB/s, A10G 0.6 TB/s), and without
# FP8 (A100, A10G) the weights read per token are twice as many bytes (BF16).
MEMORY_BANDWIDTH_TB_S = {
    "NVIDIA H100 80GB HBM3": 3.35,
    "NVIDIA A100-SXM4-40GB": 1.555,
    "NVIDIA A10G": 0.6,
}
FP8_GPUS = frozenset({"NVIDIA H100 80GB HBM3"})

# Which measured model each served model is sized like (parameters within 15 %).
SIZE_CLASS = {
    "meta-llama/Llama-3.1-70B-Instruct": "70B",
    "meta-llama/Llama-3.1-8B-Instruct": "8B",
    "mistralai/Mistral-7B-Instruct-v0.3": "8B",
    "Qwen/Qwen2.5-Coder-7B-Instruct": "8B",
    "google/gemma-2-9b-it": "8B",
}
# Prompt + completion tokens per GPU: twice the output (ISL = OSL), over the GPUs of the run.
H100_TOKENS_PER_GPU_S = {
    "70B": H100_LLAMA_70B_TP2_OUTPUT_TOKENS_PER_S * 2 / 2,  # TP2: two GPUs
    "8B": H100_LLAMA_8B_TP1_OUTPUT_TOKENS_PER_S * 2 / 1,  # TP1: one GPU
}


def tokens_per_busy_gpu_second(model: str, gpu_model: str) -> float:
    """Prompt + completion tokens one fully busy GPU of ``gpu_model`` serves per second."""
    h100 = H100_TOKENS_PER_GPU_S[SIZE_CLASS[model]]
    ratio = MEMORY_BANDWIDTH_TB_S[gpu_model] / MEMORY_BANDWIDTH_TB_S["NVIDIA H100 80GB HBM3"]
    if gpu_model not in FP8_GPUS:
        ratio /= 2
    return h100 * ratio


@dataclass(frozen=True)
class RequestShape:
    """Token counts of a workload's requests: ``int(lognormal(mu, sigma)) + floor`` each."""

    prompt_mu: float
    prompt_sigma: float
    completion_mu: float
    completion_sigma: float
    prompt_floor: int = 16
    completion_floor: int = 1

    @property
    def mean_prompt_tokens(self) -> float:
        # int() truncates: on average half a token below the lognormal's mean.
        return math.exp(self.prompt_mu + self.prompt_sigma**2 / 2) - 0.5 + self.prompt_floor

    @property
    def mean_completion_tokens(self) -> float:
        return (
            math.exp(self.completion_mu + self.completion_sigma**2 / 2)
            - 0.5
            + self.completion_floor
        )


# Chat with a system prompt and history; retrieval-augmented answers over a few passages; code
# completion with the open file as context; summaries of long documents.
REQUEST_SHAPES = {
    "chat-assistant": RequestShape(7.8, 0.6, 5.8, 0.7),
    "rag-search": RequestShape(8.3, 0.4, 5.2, 0.6),
    "code-complete": RequestShape(8.0, 0.5, 4.6, 0.7),
    "doc-summarize": RequestShape(8.7, 0.4, 6.0, 0.5),
    "translate-canary": RequestShape(6.0, 0.7, 5.0, 0.8),
}

# What becomes of a request (``Fleet._hour_requests``): shares of the requests a workload
# receives. The first five end in one attempt; the last two are retried once, and the retry
# succeeds.
FATES = {
    "stop": 0.80,
    "length": 0.04,
    "tool_calls": 0.03,
    "error": 0.03,
    "abort": 0.02,
    "timeout": 0.01,
    "retried_then_ok": 0.03,
    "late_success_retried": 0.04,
}


# Latency of one request as a batched server streams it (the demo's time to first token and
# end to end; docs/calibration.md): an H100 decodes a 70B-class stream at about 30 ms a token and
# an 8B-class one at about 10 ms, and prefills about 6,000 and 25,000 prompt tokens a second;
# another GPU is slower in proportion to its memory bandwidth (and twice as slow without FP8),
# as throughput is. ``load`` (1 and above) is how crowded the server was: both times grow with it.
H100_MS_PER_OUTPUT_TOKEN = {"70B": 30.0, "8B": 10.0}
H100_PREFILL_TOKENS_PER_S = {"70B": 6000.0, "8B": 25000.0}
QUEUE_MS = 40.0


def request_latency(
    model: str, gpu_model: str, prompt: int, completion: int, load: float
) -> tuple[float, float]:
    """(time to first token, end to end) in milliseconds, to the microsecond."""
    size = SIZE_CLASS[model]
    slower = MEMORY_BANDWIDTH_TB_S["NVIDIA H100 80GB HBM3"] / MEMORY_BANDWIDTH_TB_S[gpu_model]
    if gpu_model not in FP8_GPUS:
        slower *= 2
    first = QUEUE_MS + prompt * 1000.0 / H100_PREFILL_TOKENS_PER_S[size] * slower * load
    per_token = H100_MS_PER_OUTPUT_TOKEN[size] * slower * load
    return round(first, 3), round(first + max(completion - 1, 0) * per_token, 3)


# Service-level objectives of the demo's workloads, in milliseconds (written to
# inference/objectives.yml): chat is judged on its first token and reading speed (40 ms a token
# is 25 tokens a second), code completion on its first token and pace, retrieval on its first
# token and whole answer, summaries (a batch job) on finishing within a minute. translate-canary
# has none (its requests all fail: it has no useful tokens to judge).
DEMO_OBJECTIVES: dict[str, dict[str, float]] = {
    "chat-assistant": {"time_to_first_token_ms": 1000, "time_per_output_token_ms": 40},
    "rag-search": {"time_to_first_token_ms": 2000, "duration_ms": 10000},
    "code-complete": {"time_to_first_token_ms": 1500, "time_per_output_token_ms": 50},
    "doc-summarize": {"duration_ms": 60000},
}


def meets_objectives(
    objectives: dict[str, float], first_ms: float, duration_ms: float, completion: int
) -> bool:
    """The rule of int_requests_classified, written again for the generator's truth."""
    if "time_to_first_token_ms" in objectives and first_ms > objectives["time_to_first_token_ms"]:
        return False
    if (
        "time_per_output_token_ms" in objectives
        and completion > 1
        and (duration_ms - first_ms) / (completion - 1) > objectives["time_per_output_token_ms"]
    ):
        return False
    return not ("duration_ms" in objectives and duration_ms > objectives["duration_ms"])


def token_shares(shape: RequestShape) -> tuple[float, float]:
    """Per request received: (tokens the GPUs serve, of them useful), in expectation."""
    prompt, completion = shape.mean_prompt_tokens, shape.mean_completion_tokens
    whole = prompt + completion
    useful = whole * (
        FATES["stop"]
        + FATES["length"]
        + FATES["tool_calls"]
        + FATES["retried_then_ok"]
        + FATES["late_success_retried"]
    )
    served = (
        useful
        + whole * FATES["late_success_retried"]  # the first attempt, answered and dropped
        + FATES["abort"] * (prompt + completion / 3)
        + FATES["timeout"] * (prompt + completion / 2)
    )
    return served, useful


def peak_requests_per_hour(
    workload: str, model: str, gpu_model: str, gpus: int, peak_busy: float
) -> int:
    """Requests an hour at the diurnal peak that keep ``gpus`` GPUs ``peak_busy`` busy."""
    served, _ = token_shares(REQUEST_SHAPES[workload])
    tokens = tokens_per_busy_gpu_second(model, gpu_model) * 3600 * gpus * peak_busy
    return max(1, round(tokens / served))


def expected_break_even_utilization(
    workload: str,
    model: str,
    gpu_model: str,
    gpu_hour_cost_usd: float,
    api_usd_per_token: float,
) -> float:
    """The utilization at which the workload's GPUs cost what the API would charge.

    A busy GPU-hour serves ``tokens_per_busy_gpu_second * 3600`` tokens, of which the useful
    share is priced at the API's price; held idle hours serve none. So the GPUs match the API
    when utilization = GPU-hour cost / API value of a busy GPU-hour's useful tokens.
    """
    served, useful = token_shares(REQUEST_SHAPES[workload])
    useful_per_busy_hour = tokens_per_busy_gpu_second(model, gpu_model) * 3600 * useful / served
    return gpu_hour_cost_usd / (useful_per_busy_hour * api_usd_per_token)
