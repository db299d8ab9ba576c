"""Snakemake adapter: train DeepCluster through its command line (which starts torchrun workers).

The rule's one ``settings`` param, with the settings that never rerun training (read from
the config: workers, checkpoints), becomes the options of `python -m satcluster.deepcluster`,
so the workflow and a hand-run experiment use one code path.
"""

from pathlib import Path

from satcluster.deepcluster.cli import parse_args, run
from satcluster.deepcluster.options import argv_from_settings, runtime_settings
from satcluster.deepcluster.outputs import Outputs
from satcluster.runlog import setup_logging, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    out = Path(snakemake.output.model).parent
    written = Outputs.in_dir(out).paths()
    declared = [Path(f) for f in snakemake.output]
    if written != declared:
        raise RuntimeError(
            f"rule train_deepcluster: its outputs {[str(p) for p in declared]} must be the "
            f"files that training writes, {[str(p) for p in written]}; fix workflow/rules/deepcluster.smk."
        )
    argv = [snakemake.input.tiles, "--exp", str(out), "--out", str(out)]
    runtime = runtime_settings(snakemake.config["deepcluster"])
    argv += argv_from_settings({**runtime, **snakemake.params.settings})
    argv += ["--threads", str(snakemake.threads), "--log", snakemake.log[0]]
    log.info("python -m satcluster.deepcluster %s", " ".join(argv))
    run(parse_args(argv))
