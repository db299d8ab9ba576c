# The comparison stage's outputs (studies only): its figures for the report, and every
# table and figure of the stage (for rule all).
COMPARISON = f"{RESULTS}/comparison"


def comparison_report(name: str, ext: str, figure: str, caption: str):
    """`results/comparison/figures/{name}.{ext}` for the report, captioned by report/{caption}.rst."""
    return report(
        f"{COMPARISON}/figures/{name}.{ext}",
        caption=f"../report/{caption}.rst",
        category="Comparison",
        labels={"figure": figure, "format": ext.upper()},
    )


def consensus_per_scale(name: str) -> list:
    """The consensus output ``name`` (labels, confidence) of every scale; none without one."""
    if not CONSENSUS:
        return []
    return expand(getattr(rules.consensus_clusters.output, name), scale=SCALES)


def comparison_outputs() -> list:
    """The comparison tables and figures of a study."""
    outputs = list(rules.compare_clusterings.output)
    outputs += expand(rules.plot_city_shares.output, scale=SCALES)
    if len(SEEDS) > 1:
        outputs += list(rules.plot_seed_agreement.output)
    if len(SCALES) > 1:
        outputs += expand(rules.plot_scale_sankey.output, city=CITIES)
    return outputs
