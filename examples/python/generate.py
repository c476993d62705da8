#!/usr/bin/env python3
"""Token generation with a language model compiled by ssmc.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/generate.py CHECKPOINT.safetensors \
        --prompt 510 1276 318 --tokens 20 [--temperature 0.8 --top-k 40]
    PYTHONPATH=build/python /usr/bin/python3 examples/python/generate.py --random tiny

A checkpoint is a .safetensors file with mamba_ssm / HuggingFace tensor
names (Mamba-1, Mamba-2 or a Llama-style Transformer; docs/models.md);
`--random NAME` builds one of the named configurations with random weights
instead. Prompts and outputs are token ids: tokenise with the model's own
tokenizer (e.g. transformers' AutoTokenizer for state-spaces/mamba-130m).
"""

import argparse
import time

import ssmc.models


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", nargs="?")
    ap.add_argument("--random", metavar="NAME", help=f"one of {', '.join(ssmc.models.CONFIGS)}")
    ap.add_argument("--prompt", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if bool(args.checkpoint) == bool(args.random):
        ap.error("give a checkpoint or --random NAME")

    t0 = time.perf_counter()
    if args.random:
        model = ssmc.models.random_model(args.random, seed=args.seed, threads=args.threads)
    else:
        model = ssmc.models.load(args.checkpoint, threads=args.threads)
    print(f"{model.config['description']}: ready in {time.perf_counter() - t0:.1f} s, "
          f"decoding state {model.state_bytes / 1024:.0f} KiB")

    t0 = time.perf_counter()
    tokens = []
    for token in model.generate(args.prompt, max_new_tokens=args.tokens,
                                temperature=args.temperature, top_k=args.top_k, seed=args.seed):
        tokens.append(token)
        print(token, end=" ", flush=True)
    dt = time.perf_counter() - t0
    print(f"\n{len(tokens)} tokens in {dt * 1e3:.0f} ms ({len(tokens) / dt:.1f} tokens/s, prompt included)")


if __name__ == "__main__":
    main()
