"""Throughput of our GPT-SoVITS inference at several batch sizes, on a model of the real v2 size.

The text-to-semantic model has upstream's v2 ``s1`` size (512 wide, 24 layers, 16 heads, 1025
semantic tokens, 732 phones) and the SoVITS decoder upstream's v2 ``s2`` size (192 channels,
HiFi-GAN from 512 channels, 32 kHz), both with random weights. EOS is disabled, so every item
generates exactly ``--tokens`` semantic tokens (25 per second of speech) and the work per item is
the same at every batch size. Each batch holds different texts, reference prompts and seeds (one
"speaker" per item), as a chapter rendered across speakers would.

Reported per batch size: semantic tokens/s, utterances/s, the speed-up over batch 1 (the
batched/sequential ratio of utterances/s) and the real-time factor (compute seconds per second
of audio; lower is faster), for the text-to-semantic stage and for the whole (t2s + decoder).

    python bench/bench_sovits.py                      # CPU-sized defaults (a few minutes)
    python bench/bench_sovits.py --device cuda        # GPU: 500 tokens (20 s of speech) per item
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voices.engines.gpt_sovits.sovits import SoVITSDecoder, SoVITSDims
from voices.engines.gpt_sovits.t2s import SEMANTIC_RATE_HZ, T2SConfig, T2SItem, Text2Semantic

V2_S2_MODEL = {
    "inter_channels": 192,
    "hidden_channels": 192,
    "filter_channels": 768,
    "n_heads": 2,
    "n_layers": 6,
    "kernel_size": 3,
    "p_dropout": 0.1,
    "resblock": "1",
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "upsample_rates": [10, 8, 2, 2, 2],
    "upsample_initial_channel": 512,
    "upsample_kernel_sizes": [16, 16, 8, 2, 2],
    "gin_channels": 512,
    "semantic_frame_rate": "25hz",
}
"""Upstream's s2.json model section (v2)."""
V2_S2_DATA = {"sampling_rate": 32000, "filter_length": 2048, "hop_length": 640, "win_length": 2048}
V2_S2_DIMS = SoVITSDims(
    ssl_dim=768, ssl_stride=2, hidden=192, inter=192, filter=768, n_heads=2, n_layers=6, kernel_size=3,
    mrte_hidden=512, style_in=704, style_hidden=128, n_symbols=732, n_codes=1024, gin=512, sv_dim=0,
)


@dataclass(frozen=True)
class Row:
    batch: int
    t2s_s: float
    decode_s: float
    tokens: int
    audio_s: float

    @property
    def total_s(self) -> float:
        return self.t2s_s + self.decode_s


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"GPU {props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def make_items(batch: int, args: argparse.Namespace, offset: int) -> tuple[list[T2SItem], list[torch.Tensor]]:
    """``batch`` different utterances: own text, own reference prompt, own seed."""
    gen = torch.Generator().manual_seed(offset)
    items, targets = [], []
    for i in range(batch):
        target = torch.randint(1, 732, (args.phones,), generator=gen)
        ref = torch.randint(1, 732, (args.ref_phones,), generator=gen)
        items.append(
            T2SItem(
                phones=torch.cat([ref, target]),
                bert=torch.zeros(1024, args.ref_phones + args.phones),
                prompt=torch.randint(0, 1024, (args.prompt,), generator=gen),
                seed=offset + i,
                max_tokens=args.tokens,
            )
        )
        targets.append(target)
    return items, targets


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_batch(t2s: Text2Semantic, decoder: SoVITSDecoder | None, batch: int, args: argparse.Namespace,
              device: torch.device, offset: int) -> Row:
    items, targets = make_items(batch, args, offset)
    spec_frames = args.prompt * 2
    refer = [torch.rand(1, 1025, spec_frames, generator=torch.Generator().manual_seed(offset + i))
             for i in range(batch)]
    sync(device)
    start = time.perf_counter()
    results = t2s.generate(items, allow_eos=False)
    sync(device)
    t2s_s = time.perf_counter() - start
    decode_s = 0.0
    if decoder is not None:
        start = time.perf_counter()
        decoder.decode([r.tokens for r in results], targets, refer, seeds=[offset + i for i in range(batch)])
        sync(device)
        decode_s = time.perf_counter() - start
    tokens = sum(r.num_tokens for r in results)
    return Row(batch, t2s_s, decode_s, tokens, tokens / SEMANTIC_RATE_HZ)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                   help="auto: float16 on a GPU, float32 on the CPU")
    p.add_argument("--batch-sizes", default="1,4,16,32")
    p.add_argument("--tokens", type=int, default=None,
                   help="semantic tokens per item (default 500 = 20 s on a GPU, 16 = 0.64 s on the CPU)")
    p.add_argument("--phones", type=int, default=None, help="target phones per item (default 60 GPU, 20 CPU)")
    p.add_argument("--ref-phones", type=int, default=None, help="reference transcript phones (default 30 GPU, 10 CPU)")
    p.add_argument("--prompt", type=int, default=None, help="reference semantic tokens (default 150 = 6 s GPU, 50 CPU)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per batch size, best kept (default 3 GPU, 1 CPU)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; on a busy machine 1 is often faster)")
    p.add_argument("--no-decoder", action="store_true", help="time the text-to-semantic stage only")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    gpu = device.type == "cuda"
    defaults = {"tokens": (500, 16), "phones": (60, 20), "ref_phones": (30, 10), "prompt": (150, 50), "repeats": (3, 1)}
    for name, (on_gpu, on_cpu) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, on_gpu if gpu else on_cpu)
    args.device = device
    args.dtype = {"auto": torch.float16 if gpu else torch.float32, "float32": torch.float32,
                  "float16": torch.float16, "bfloat16": torch.bfloat16}[args.dtype]
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device: torch.device = args.device
    torch.manual_seed(0)
    t2s = Text2Semantic(T2SConfig()).to(device=device, dtype=args.dtype).eval()
    decoder = None
    if not args.no_decoder:
        config = {"model": V2_S2_MODEL, "data": V2_S2_DATA}
        decoder = SoVITSDecoder(config, V2_S2_DIMS, "v2").to(device=device, dtype=args.dtype).eval()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(f"hardware: {hardware(device)}")
    print(f"torch {torch.__version__}, dtype {str(args.dtype).removeprefix('torch.')}")
    print(f"t2s: upstream v2 s1 size ({sum(p.numel() for p in t2s.parameters()) / 1e6:.1f} M parameters); "
          + ("no decoder" if decoder is None else
             f"decoder: upstream v2 s2 size ({sum(p.numel() for p in decoder.parameters()) / 1e6:.1f} M parameters)"))
    print(f"per item: {args.tokens} semantic tokens ({args.tokens / SEMANTIC_RATE_HZ:.2f} s of speech, EOS disabled), "
          f"{args.ref_phones}+{args.phones} phones, {args.prompt}-token reference prompt; best of {args.repeats}")
    if device.type == "cpu":
        print("note: CPU defaults are small (--tokens/--phones/--prompt); GPU targets are judged on a GPU run")
    run_batch(t2s, decoder, min(sizes), args, device, offset=10_000)  # warm-up
    rows = []
    for size in sizes:
        runs = [run_batch(t2s, decoder, size, args, device, offset=1000 * r) for r in range(args.repeats)]
        rows.append(min(runs, key=lambda r: r.total_s))
    print_table(rows)


def print_table(rows: list[Row]) -> None:
    base = rows[0]
    base_rate = base.batch / base.total_s
    print(f"{'batch':>5} {'tokens/s':>10} {'items/s':>9} {'speed-up':>9} {'RTF t2s':>9} {'RTF total':>10} "
          f"{'t2s s':>8} {'decode s':>9}")
    for r in rows:
        rate = r.batch / r.total_s
        print(f"{r.batch:>5} {r.tokens / r.t2s_s:>10.1f} {rate:>9.3f} {rate / base_rate:>8.2f}x "
              f"{r.t2s_s / r.audio_s:>9.4f} {r.total_s / r.audio_s:>10.4f} {r.t2s_s:>8.2f} {r.decode_s:>9.2f}")
    if base.batch != 1:
        print("(speed-up is relative to the smallest batch size run)")
    at16 = next((r for r in rows if r.batch == 16), None)
    best_rtf = min(r.total_s / r.audio_s for r in rows)
    if at16 is not None and base.batch == 1:
        speedup = (at16.batch / at16.total_s) / base_rate
        print(f"targets (judged on a GPU): batch 16 >= 6x batch 1: {speedup:.2f}x "
              f"{'met' if speedup >= 6 else 'not met'}; RTF <= 0.01: best {best_rtf:.4f} "
              f"{'met' if best_rtf <= 0.01 else 'not met'}")


if __name__ == "__main__":
    main()
