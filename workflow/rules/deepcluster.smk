# Stage: deepcluster. One training job on the tiles: DeepCluster with `deepcluster.gpus` GPUs
# on one node (one process per GPU, started by torchrun inside the job), or one CPU process
# when no GPU is visible. A killed or failed job's rerun resumes from
# results/deepcluster/checkpoints/ (not declared outputs, so Snakemake keeps them).
# Only deepcluster.* settings are params: changing clusters, covariates or figures never retrains;
# nor do deepcluster.workers and .checkpoints (how the job runs, not what it writes: the script
# reads them from the config).
# In a study: one job per scale and seed, on the pooled tiles of every city of that scale.


include: "helpers/deepcluster.smk"


rule train_deepcluster:
    input:
        tiles=(
            rules.pool_tiles.output.tiles
            if IS_STUDY
            else rules.gather_tiles.output.tiles
        ),
    output:
        model=f"{MODEL_DIR}/deepcluster/model.pt",
        training_log=f"{MODEL_DIR}/deepcluster/training_log.csv",
        assignments=f"{MODEL_DIR}/deepcluster/assignments.parquet",
        features=f"{MODEL_DIR}/deepcluster/features.npy",
    log:
        f"{MODEL_LOGS}/deepcluster/train_deepcluster.log",
    benchmark:
        f"{MODEL_BENCHMARKS}/deepcluster/train_deepcluster.tsv"
    conda:
        CONDA_ENV
    threads: 16
    resources:
        # GPUs on one node; never `tasks` (the SLURM plugin would start the job once per GPU).
        # CPUs: threads, or `cpus_per_gpu` / `cpus_per_task` from the profile.
        gpu=config["deepcluster"]["gpus"],
        nodes=1,
        mem_mb=72000,
        runtime=4320,
    params:
        # every deepcluster.* setting that can change the result (deepcluster/settings.py)
        settings=training_settings,
    script:
        "../scripts/train_deepcluster.py"
