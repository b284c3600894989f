"""Report layer: the customer-analysis report, regenerated after every publish."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from crm_pulse.report import ReportOptions, generate_report
from orchestration.assets.publish import SERVING_KEY
from orchestration.resources import PipelineSettings

REPORT_KEY = AssetKey(["report", "customer_report"])


@asset(
    key=REPORT_KEY,
    deps=[SERVING_KEY],
    group_name="report",
    kinds={"html", "pdf"},
    description="Customer-analysis report for the last complete month or quarter (CRM_PULSE_REPORT_PERIOD) "
    "against the one before: headline KPIs, conclusions, problems and charts, read from serving.duckdb "
    "(read-only); `<warehouse>/reports/customer-report-<period>-<lang>.html`, plus `.pdf` when Chromium is installed.",
)
def customer_report(context: AssetExecutionContext, settings: PipelineSettings) -> MaterializeResult:
    cfg = settings.get()
    result = generate_report(cfg, ReportOptions.from_env(cfg))
    for note in result.notes:
        context.log.warning(note)
    if result.missing_marts:
        context.log.warning(f"report sections left empty, marts not published: {', '.join(result.missing_marts)}")
    context.log.info(f"report written to {result.html}" + (f" and {result.pdf}" if result.pdf else ""))
    return MaterializeResult(
        metadata={
            "html": MetadataValue.path(str(result.html)),
            "pdf": MetadataValue.path(str(result.pdf)) if result.pdf else MetadataValue.text("not generated"),
            "period": result.period.slug,
            "lang": result.lang,
            "headline": MetadataValue.json({k: v for k, v in result.headline.items()}),
        }
    )
