"""Snakemake adapter: train DeepCluster through its command line (which starts torchrun workers).

The rule's params become the options of `python -m satcluster.deepcluster`, so the
workflow and a hand-run experiment use one code path.
"""

from pathlib import Path

from satcluster.deepcluster.cli import parse_args, run
from satcluster.deepcluster.train import Outputs
from satcluster.runlog import setup_logging, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    p = snakemake.params
    out = Path(snakemake.output.model).parent
    argv = [snakemake.input.tiles, "--exp", str(out), "--out", str(out)]
    argv += ["--arch", p.arch, "--clustering", p.clustering, "--k", str(p.k)]
    argv += ["--lr", str(p.lr), "--wd", str(p.wd), "--momentum", str(p.momentum)]
    argv += ["--batch", str(p.batch), "--epochs", str(p.epochs), "--reassign", str(p.reassign)]
    argv += ["--features_epoch", str(p.features_epoch), "--seed", str(p.seed)]
    argv += ["--workers", str(p.workers), "--pca_dim", str(p.pca_dim), "--gpus", str(p.gpus)]
    argv += ["--input_size", str(p.input_size), "--checkpoints", str(p.checkpoints)]
    argv += ["--sobel" if p.sobel else "--no-sobel", "--amp" if p.amp else "--no-amp"]
    argv += ["--threads", str(snakemake.threads), "--log", snakemake.log[0]]
    if p.resume:
        argv += ["--resume", p.resume]
    args = parse_args(argv)
    written = Outputs.in_dir(out)
    assert [written.model, written.training_log, written.assignments, written.features] == [
        Path(f) for f in snakemake.output
    ], "the rule's outputs must be the files that training writes"
    log.info("python -m satcluster.deepcluster %s", " ".join(argv))
    run(args)
