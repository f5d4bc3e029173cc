"""Regenerates the expected `*.out` files from Salt's own highstate outputter.

Each case is named `<data>.<state_output>[.quiet][.color].out`: it renders
`<data>.json` (captured with `salt-call --local state.apply ... --out json`,
or built by hand) with `state_output`, `state_verbose: False` for `quiet`
and colors for `color`. Run it with the Python of a Salt 3008.5 install:

    SALT_PY=/root/.cache/brine-bench/salt-venv/bin/python
    $SALT_PY cli/src/output/testdata/highstate/regen.py [NEW_CASE.out ...]

Data captured from real `salt-call --local state.apply` runs: mix (changes,
a failure, a file diff), mixtest (the same with test=True), clean, real2
(cmd.run, names, requisites, warnings, unicode), retrywarn (retry,
check_cmd and file.managed's file_mode warning), bad and nope (render
errors). Built by hand to reach the outputter's corners: edge, edge2
(nested highstate changes, orchestration, missing __run_num__, odd result
and duration types), text, multi, warnfuzz and warnfuzz2 (random warning
texts for the 80-column wrapping).
"""

import json
import os
import sys
import tempfile

import salt.config
import salt.output

HERE = os.path.dirname(os.path.abspath(__file__))


def render(case):
    data_name, *flags = case[: -len(".out")].split(".")
    with tempfile.TemporaryDirectory() as root:
        conf = os.path.join(root, "minion")
        with open(conf, "w") as fh:
            fh.write(f"file_client: local\nroot_dir: {root}\n")
        opts = salt.config.minion_config(conf)
    opts["color"] = "color" in flags
    opts["state_verbose"] = "quiet" not in flags
    opts["state_output"] = flags[0]
    with open(os.path.join(HERE, data_name + ".json")) as fh:
        data = json.load(fh)
    text = salt.output.out_format(data, "highstate", opts)
    return text + "\n" if text else ""


def main():
    cases = sys.argv[1:] or sorted(f for f in os.listdir(HERE) if f.endswith(".out"))
    for case in cases:
        case = os.path.basename(case)
        with open(os.path.join(HERE, case), "w") as fh:
            fh.write(render(case))


if __name__ == "__main__":
    main()
