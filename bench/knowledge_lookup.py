"""Knowledge base lookup benchmark: `PatternIndex.best` over a synthesized pack of 10,000 patterns.

The shipped pack has a few hundred patterns; a team's own knowledge base grows on top of
it. This benchmark varies the shipped patterns until there are `--patterns` of them, in
two ways a real pack grows:

- service-specific copies: the pattern's regexes followed by a service name
  (`svc17`), shared by about 20 copies, as teams write "this error, in that service";
- source-specific copies: the same regexes restricted to one source (Sentry, Datadog,
  ...), which share every word with the original and so land in the same index lists.

It then times lookups of three kinds of text, one third each: examples of the copies
(they name a service), the shipped examples (they match originals and source copies),
and ordinary log lines that match nothing (most events). It reports lookups per second
on one core, the time and memory to build the index (memory measured with tracemalloc in
a separate pass, since tracing slows everything down), and checks a sample of answers
against running every regex.

    .venv/bin/python bench/knowledge_lookup.py --patterns 10000 --lookups 30000
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import tracemalloc
from typing import Any

from liberation_guardian import sources
from liberation_guardian.knowledge import Pack, Pattern, PatternIndex, load_pack

SERVICES_PER_TOKEN = 20
_NOISE_WORDS = (
    "GET POST /api/orders /healthz 200 204 301 ms user request completed started worker job queue cache hit miss "
    "connection opened closed error warning info debug retry database latency timeout pod node deploy release "
    "payment invoice customer session token login logout upload export import sync batch"
).split()


def synthesize(pack: Pack, count: int) -> list[Pattern]:
    """The shipped patterns plus service- and source-specific copies, `count` in all."""
    base = list(pack)
    names = sorted(sources.registry())
    tokens = max(1, (count - len(base)) // (2 * SERVICES_PER_TOKEN))
    patterns = list(base)
    number = 0
    while len(patterns) < count:
        original = base[number % len(base)]
        data = original.model_dump(mode="json")
        data["shadowed_by"] = []
        anchored = any("^" in regex or "$" in regex for regex in original.match.any)
        if number % 2 == 0 and not anchored:
            token = f"svc{number // 2 % tokens}"
            data["id"] = f"{original.id}-{token}-{number}"
            data["match"]["any"] = [rf"(?:{regex})[\s\S]*?\b{token}\b" for regex in original.match.any]
            data["examples"] = [{**example, "text": f"{example['text']} [{token}]"} for example in data["examples"]]
        else:
            source = names[number % len(names)]
            data["id"] = f"{original.id}-{source}-{number}"
            data["match"]["sources"] = [source]
            data["examples"] = [{**example, "source": source} for example in data["examples"]]
        patterns.append(Pattern.model_validate(data))
        number += 1
    return patterns


def lookups(patterns: list[Pattern], shipped: int, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` lookups: a third copy examples, a third shipped examples, a third unrelated log lines."""
    rng = random.Random(seed)
    copies = [example for pattern in patterns[shipped:] for example in pattern.examples if "[svc" in example.text]
    originals = [example for pattern in patterns[:shipped] for example in pattern.examples]
    names = sorted(sources.registry())
    texts: list[dict[str, Any]] = []
    for number in range(count):
        kind = number % 3
        if kind == 0:
            example = rng.choice(copies)
            texts.append({"text": example.text, "source": rng.choice(names), "exception_type": example.exception_type})
        elif kind == 1:
            example = rng.choice(originals)
            texts.append({"text": example.text, "source": rng.choice(names), "exception_type": example.exception_type})
        else:
            line = " ".join(rng.choice(_NOISE_WORDS) for _ in range(rng.randint(6, 30)))
            texts.append({"text": line, "source": rng.choice(names), "exception_type": None})
    return texts


def timed(index: PatternIndex, texts: list[dict[str, Any]]) -> tuple[float, int]:
    """Seconds to look up every text, and how many found a pattern."""
    found = 0
    start = time.perf_counter()
    for lookup in texts:
        if index.best(lookup["text"], source=lookup["source"], exception_type=lookup["exception_type"]) is not None:
            found += 1
    return time.perf_counter() - start, found


def memory(patterns: list[Pattern]) -> tuple[float, float]:
    """MiB held by a built index (with its compiled regexes) and the peak while building it."""
    for pattern in patterns:
        pattern.regexes  # noqa: B018 - compile outside the measurement, as loading the pack does
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = PatternIndex(patterns)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return (current - before) / 2**20, (peak - before) / 2**20


def agreement(index: PatternIndex, patterns: list[Pattern], texts: list[dict[str, Any]], sample: int) -> int:
    """How many of `sample` lookups found the same set of patterns as running every regex."""
    same = 0
    for lookup in texts[:sample]:
        event = {"source": lookup["source"], "exception_type": lookup["exception_type"]}
        fast = {match.pattern.id for match in index.matches(lookup["text"], **event)}
        slow = {pattern.id for pattern in patterns if pattern.find(lookup["text"], **event) is not None}
        same += fast == slow
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", type=int, default=300, help="lookups compared against running every regex")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    pack = load_pack()
    patterns = synthesize(pack, args.patterns)
    start = time.perf_counter()
    index = PatternIndex(patterns)
    build = time.perf_counter() - start
    for pattern in patterns:
        pattern.regexes  # noqa: B018 - compile every regex before timing lookups
    texts = lookups(patterns, len(pack), args.lookups, args.seed)
    timed(index, texts[:1000])  # warm up
    kinds = {"copy examples": texts[0::3], "shipped examples": texts[1::3], "unrelated lines": texts[2::3]}
    rates = {}
    for name, part in kinds.items():
        seconds, found = timed(index, part)
        rates[name] = {"lookups_per_s": round(len(part) / seconds), "found": found, "lookups": len(part)}
    seconds, found = timed(index, texts)
    held, peak = memory(patterns)
    figures = {
        "patterns": len(patterns),
        "index_keys": index.keys,
        "unindexed_patterns": len(index.unindexed),
        "build_s": round(build, 3),
        "lookups": len(texts),
        "lookups_per_s": round(len(texts) / seconds),
        "mean_us": round(seconds / len(texts) * 1e6, 1),
        "found": found,
        "by_kind": rates,
        "index_mib": round(held, 1),
        "build_peak_mib": round(peak, 1),
        "agreement": f"{agreement(index, patterns, texts, args.check)}/{min(args.check, len(texts))}",
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['patterns']:,} patterns, {figures['index_keys']:,} index words, index built in {build:.2f} s")
    print(f"index memory {held:.1f} MiB (peak while building {peak:.1f} MiB)")
    print(f"{len(texts):,} lookups: {figures['lookups_per_s']:,}/s, {figures['mean_us']} µs each, {found:,} found")
    for name, rate in rates.items():
        print(f"  {name:<17} {rate['lookups_per_s']:>9,}/s  ({rate['found']:,} of {rate['lookups']:,} found)")
    print(f"same answer as running every regex: {figures['agreement']}")


if __name__ == "__main__":
    main()
