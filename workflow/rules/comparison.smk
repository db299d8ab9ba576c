# Stage: comparison (studies only). How far the clusters hold across seeds and spatial
# scales, and each city's share of every cluster (the paper's robustness claims and its
# follow-up's comparison of cities), as tables and figures under results/comparison/.


include: "helpers/comparison.smk"


if IS_STUDY:

    rule compare_clusterings:
        input:
            labels=expand(rules.label_cities.output.labels, scale=SCALES, seed=SEEDS),
            indexes=expand(rules.gather_tiles.output.index, city=CITIES, scale=SCALES),
            # with a consensus, the cluster stability table gains its clusters
            consensus_labels=consensus_per_scale("labels"),
            consensus_confidence=consensus_per_scale("confidence"),
            pooled_indexes=(
                expand(rules.pool_tiles.output.index, scale=SCALES)
                if CONSENSUS
                else []
            ),
        output:
            seeds=report(
                f"{COMPARISON}/seed_agreement.csv",
                caption="../report/seed_agreement_table.rst",
                category="Comparison",
            ),
            scales=report(
                f"{COMPARISON}/scale_agreement.csv",
                caption="../report/scale_agreement_table.rst",
                category="Comparison",
            ),
            shares=report(
                f"{COMPARISON}/city_shares.csv",
                caption="../report/city_shares_table.rst",
                category="Comparison",
            ),
            stability=report(
                f"{COMPARISON}/cluster_stability.csv",
                caption="../report/cluster_stability.rst",
                category="Comparison",
            ),
        log:
            f"{LOGS}/comparison/compare_clusterings.log",
        benchmark:
            f"{BENCHMARKS}/comparison/compare_clusterings.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            ks=KS,
            cities=CITIES,
            scales=SCALES,
            seeds=SEEDS,
        script:
            "../scripts/compare_clusterings.py"

    rule plot_city_shares:
        input:
            table=rules.compare_clusterings.output.shares,
        output:
            png=comparison_report(
                "city_shares_{scale}px",
                "png",
                "cluster shares per city",
                "city_shares",
            ),
            pdf=comparison_report(
                "city_shares_{scale}px",
                "pdf",
                "cluster shares per city",
                "city_shares",
            ),
        log:
            f"{LOGS}/comparison/plot_city_shares_{{scale}}px.log",
        benchmark:
            f"{BENCHMARKS}/comparison/plot_city_shares_{{scale}}px.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=15,
        params:
            final_k=FINAL_K,
            seed=REFERENCE_SEED,
            palette=config["figures"]["palette"],
            dpi=config["figures"]["dpi"],
        script:
            "../scripts/plot_city_shares.py"

    rule plot_seed_agreement:
        input:
            table=rules.compare_clusterings.output.seeds,
        output:
            png=comparison_report(
                "seed_agreement", "png", "seed agreement per k", "seed_agreement"
            ),
            pdf=comparison_report(
                "seed_agreement", "pdf", "seed agreement per k", "seed_agreement"
            ),
        log:
            f"{LOGS}/comparison/plot_seed_agreement.log",
        benchmark:
            f"{BENCHMARKS}/comparison/plot_seed_agreement.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=15,
        params:
            dpi=config["figures"]["dpi"],
        script:
            "../scripts/plot_seed_agreement.py"

    rule plot_scale_sankey:
        input:
            fine_labels=fixed(rules.split_city.output.labels, scale=SCALES[0]),
            coarse_labels=fixed(rules.split_city.output.labels, scale=SCALES[-1]),
            fine_index=fixed(rules.gather_tiles.output.index, scale=SCALES[0]),
            coarse_index=fixed(rules.gather_tiles.output.index, scale=SCALES[-1]),
        output:
            png=comparison_report(
                "scale_sankey_{city}",
                "png",
                "Sankey from fine to coarse",
                "scale_sankey",
            ),
            pdf=comparison_report(
                "scale_sankey_{city}",
                "pdf",
                "Sankey from fine to coarse",
                "scale_sankey",
            ),
        log:
            f"{LOGS}/comparison/plot_scale_sankey_{{city}}.log",
        benchmark:
            f"{BENCHMARKS}/comparison/plot_scale_sankey_{{city}}.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=15,
        params:
            fine=SCALES[0],
            coarse=SCALES[-1],
            final_k=FINAL_K,
            palette=config["figures"]["palette"],
            dpi=config["figures"]["dpi"],
        script:
            "../scripts/plot_scale_sankey.py"
