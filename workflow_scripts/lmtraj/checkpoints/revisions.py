"""Revision names of a hub suite read from the repo's branches, for a config's `steps` and `revisions`.

Some suites name their branches after the tokens seen as well as the step (OLMo: "step20000-tokens84B";
OLMo 2: "stage1-step150-tokens1B"), rounded in ways that differ between repos of the same run, so the
names cannot be built from a formula: they are listed from the repo and pasted into the config.

    cd workflow_scripts && python -m lmtraj.checkpoints.revisions allenai/OLMo-1B-hf --every 20000

needs the network (huggingface_hub.list_repo_refs) and prints a YAML `steps:` list and `revisions:` map.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable

# An optional prefix ("stage1-"), the step, and an optional token count in billions or trillions.
BRANCH = re.compile(
    r"^(?:(?P<prefix>.+)-)?step(?P<step>\d+)(?:-tokens(?P<tokens>\d+)(?P<unit>[BT]))?$"
)
BILLIONS_PER_UNIT = {"B": 1, "T": 1000}


def parse_revision(name: str) -> tuple[int, int | None] | None:
    """(step, tokens in billions or None) of a checkpoint branch name; None for any other branch
    ("main", "nitro"), which is not a checkpoint of a known step."""
    match = BRANCH.match(name)
    if match is None:
        return None
    tokens = match["tokens"]
    billions = None if tokens is None else int(tokens) * BILLIONS_PER_UNIT[match["unit"]]
    return int(match["step"]), billions


def thin(steps: list[int], every: int) -> list[int]:
    """The steps on a grid of `every`, plus the first and the last: the earliest and the final
    checkpoint are kept even off the grid (OLMo-1B-hf ends at step 738020)."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if not steps:
        return []
    kept = {s for s in steps if s % every == 0}
    return sorted(kept | {steps[0], steps[-1]})


def revisions_map(branch_names: Iterable[str], every: int | None = None) -> dict[int, str]:
    """Step -> branch name of every checkpoint branch, sorted by step, optionally thinned to a grid
    of `every` steps. Two branches of one step (two stages of OLMo 2 restart their step counts) raise
    ValueError naming both: which one a config means is the user's choice (select by prefix)."""
    found: dict[int, str] = {}
    for name in branch_names:
        parsed = parse_revision(name)
        if parsed is None:
            continue
        step = parsed[0]
        if step in found:
            raise ValueError(f"branches {found[step]!r} and {name!r} both name step {step}")
        found[step] = name
    steps = sorted(found)
    if every is not None:
        steps = thin(steps, every)
    return {step: found[step] for step in steps}


def tokens_per_step(revisions: dict[int, str]) -> int | None:
    """Tokens per step implied by the last named token count (the largest, so its rounding to whole
    billions matters least); None when no name carries one. A check of a config's tokens_per_step,
    not a replacement: the names are rounded."""
    for step in sorted(revisions, reverse=True):
        parsed = parse_revision(revisions[step])
        if step > 0 and parsed is not None and parsed[1] is not None:
            return round(parsed[1] * 1e9 / step)
    return None


def to_yaml(revisions: dict[int, str], per_line: int = 10) -> str:
    """The `steps:` list and `revisions:` map of a model entry, in the layout of config/*.yaml."""
    if not revisions:
        return "steps: []\nrevisions: {}\n"
    steps = list(revisions)
    rows = [steps[i : i + per_line] for i in range(0, len(steps), per_line)]
    lines = ["steps: ["]
    lines += ["  " + ", ".join(str(s) for s in row) + "," for row in rows]
    lines += ["]", "revisions:"]
    lines += [f"  {step}: {name}" for step, name in revisions.items()]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lmtraj.checkpoints.revisions",
        description="Print a hub repo's checkpoint branches as a config's steps and revisions.",
    )
    parser.add_argument("repo", help="hub model repo, e.g. allenai/OLMo-1B-hf")
    parser.add_argument("--every", type=int, default=None, help="keep steps on this grid")
    parser.add_argument(
        "--prefix", default=None, help="keep only branches starting with this (e.g. stage1-)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from huggingface_hub import list_repo_refs  # the network is needed here only

    names = [branch.name for branch in list_repo_refs(args.repo).branches]
    if args.prefix is not None:
        names = [name for name in names if name.startswith(args.prefix)]
    try:
        revisions = revisions_map(names, args.every)
    except ValueError as err:
        print(f"{args.repo}: {err}; choose one stage with --prefix", file=sys.stderr)
        return 1
    grid = "" if args.every is None else f", {len(revisions)} on the grid of {args.every}"
    print(f"# {args.repo}: {len(names)} branches, {len(revisions_map(names))} checkpoints{grid}")
    implied = tokens_per_step(revisions)
    if implied is not None:
        print(f"# the names imply about {implied} tokens per step")
    print(to_yaml(revisions), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
