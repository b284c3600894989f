"""dbt tests of the project: severity is a deliberate, explained choice for every staging test, and the
never-null, unique and accepted-value rules (one column_rules test per model and seed) are all kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DBT = Path(__file__).resolve().parent.parent / "dbt_project"
STAGING = DBT / "models" / "staging"
SOURCES = ("crm", "erp", "ticketing", "analytics")
SPECS = [STAGING / s / "_models.yml" for s in SOURCES] + [
    DBT / "models" / "intermediate" / "_models.yml", DBT / "models" / "marts" / "_models.yml", DBT / "seeds" / "_seeds.yml"]
#: Why a staging column is never null: the groups of column_rules' not_null mapping.
STAGING_REASONS = {"key", "required_by_contract", "filled", "derived", "clv_output"}

#: The rules every model and seed keeps: never-null columns / unique columns / columns with accepted
#: values (the 122 not_null, not_null_columns, unique and accepted_values tests they replaced). A rule
#: may be added without touching this list; dropping one means editing it, deliberately.
RULES = {
    "stg_crm__customers": ("customer_id customer_name crm_status industry region city company_size owner_rep "
                           "is_industry_missing is_owner_missing", "customer_id", "company_size crm_status"),
    "stg_crm__opportunities": ("opportunity_id customer_id created_date owner_rep stage is_owner_missing is_closed",
                               "opportunity_id", ""),
    "stg_crm__activities": ("activity_id customer_id activity_type activity_at rep is_rep_missing activity_date",
                            "activity_id", "activity_type"),
    "stg_crm__campaigns": ("campaign_id campaign_name start_date channel is_channel_missing", "campaign_id", ""),
    "stg_crm__campaign_members": ("campaign_member_key campaign_id customer_id has_responded has_converted",
                                 "campaign_member_key", ""),
    "stg_erp__orders": ("order_id customer_id order_status amount ordered_at order_date currency sales_rep", "order_id",
                        "order_status"),
    "stg_erp__order_items": ("order_item_key order_id sku quantity unit_price line_amount", "order_item_key", ""),
    "stg_erp__products": ("sku product_name category is_category_missing", "sku", ""),
    "stg_ticketing__tickets": ("ticket_id customer_id created_at created_date is_assignee_missing is_resolved channel "
                               "category priority ticket_status assignee is_complaint", "ticket_id",
                               "category priority ticket_status"),
    "stg_ticketing__satisfaction_responses": ("response_id customer_id responded_at responded_date", "response_id",
                                              "csat nps nps_group"),
    "stg_analytics__clv_customer_predictions": ("customer_id first_purchase_date repeat_purchase_days", "customer_id", ""),
    "stg_analytics__clv_model_params": ("model parameter is_converged fit_kind calibration_end", "", "model fit_kind"),
    "int_orders_converted": ("order_id fx_rate", "order_id", ""),
    "int_customers_ordered": ("customer_id", "customer_id", ""),
    "int_customer_lost_marks": ("customer_id", "customer_id", ""),
    "int_customer_base": ("customer_id lifecycle_stage", "customer_id", ""),
    "int_month_spine": ("month_start", "month_start", ""),
    "int_orders_enriched": ("order_id", "order_id", ""),
    "fct_orders": ("order_id customer_id order_date amount_reporting revenue", "order_id", "order_status"),
    "dim_customers": ("customer_id industry owner_rep completed_orders lifetime_revenue lifecycle_stage is_vip "
                      "ticket_count complaint_count csat_responses", "customer_id",
                      "company_size crm_status lifecycle_stage value_tier"),
    "customer_rfm": ("customer_id recency_days frequency monetary rfm_segment", "customer_id",
                     "r_score f_score m_score value_tier"),
    "fct_tickets": ("ticket_id customer_id created_at created_date created_month is_complaint is_resolved "
                    "is_first_response_sla_breached is_resolution_sla_breached", "ticket_id", ""),
    "customer_value": ("customer_id recent_revenue historical_revenue completed_orders", "customer_id", "value_quintile"),
    "sales_performance": ("period_type period_start period_end sales_rep region industry revenue orders", "",
                          "period_type"),
    "cohort_retention": ("cohort_month months_since_first_order activity_month cohort_size active_customers revenue",
                         "", ""),
    "churn_summary": ("period_month dimension dimension_value customers_at_start churned_customers", "", "dimension"),
    "churn_risk": ("customer_id recent_followups prior_followups is_followup_drop is_purchase_gap "
                   "is_low_probability_alive signal_count is_flagged", "customer_id", ""),
    "service_performance": ("period_type period_start category channel tickets", "", "period_type"),
    "campaign_performance": ("campaign_id participants responders converted_customers new_customers attributed_orders "
                             "attributed_revenue", "campaign_id", ""),
    "kpi_monthly": ("month_start customers_total customers_at_start new_customers active_customers churned_customers "
                    "revenue orders high_value_revenue", "month_start", ""),
    "clv_model_params": ("model parameter is_converged fit_kind calibration_end", "", "fit_kind"),
    "fx_rates": ("currency rate_to_reporting", "currency", ""),
    "rfm_segments": ("priority segment", "priority segment", ""),
}


def _entries(path: Path) -> list[dict]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return spec.get("models", []) + spec.get("seeds", [])


def _placed_tests(entry: dict) -> list[tuple[str, str, dict | str]]:
    """(where, test name, body) of every test of a model: model-level (column_rules) and per column."""
    placed = [(entry["name"], *next(iter(t.items()))) if isinstance(t, dict) else (entry["name"], t, t)
              for t in entry.get("data_tests", [])]
    for column in entry.get("columns", []):
        for t in column.get("data_tests", []):
            where = f"{entry['name']}.{column['name']}"
            placed.append((where, *next(iter(t.items()))) if isinstance(t, dict) else (where, t, t))
    return placed


def _column_rules(entry: dict) -> dict:
    [body] = [body for _, name, body in _placed_tests(entry) if name == "column_rules"]
    return body


def _never_null(rules: dict) -> list[str]:
    not_null = rules["arguments"].get("not_null") or []
    return [c for group in not_null.values() for c in group] if isinstance(not_null, dict) else not_null


#: how a test's description states its severity (the Dagster UI shows the description of every check)
VERDICT = {"error": "Blocking (severity error): ", "warn": "Not blocking (severity warn): "}


def _stated_reason(body: dict) -> str:
    """Why the test has its severity, as its description says after :data:`VERDICT` ('' when it does not)."""
    description, verdict = body.get("description") or "", VERDICT[body["config"]["severity"]]
    return description.split(verdict, 1)[1] if verdict in description else ""


@pytest.mark.parametrize("source", SOURCES)
def test_every_staging_test_states_its_severity_and_why(source):
    path = STAGING / source / "_models.yml"
    tests = 0
    for model in _entries(path):
        for where, name, body in _placed_tests(model):
            assert isinstance(body, dict), f"{where}: {name} has no explicit severity"
            assert body["config"]["severity"] in ("error", "warn"), f"{where}.{name}"
            tests += 1
            assert len(_stated_reason(body)) > 30, f"{where}.{name}: {body.get('description')!r}"
    assert tests > 0


def test_warn_is_reserved_for_cross_export_consistency():
    """Invariants the pipeline guarantees block (error); gaps between separately exported systems warn."""
    warn = [(where, name) for source in SOURCES for model in _entries(STAGING / source / "_models.yml")
            for where, name, body in _placed_tests(model)
            if isinstance(body, dict) and body["config"]["severity"] == "warn"]
    assert warn and all(name == "relationships" for _, name in warn), warn


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(DBT)))
def test_one_column_rules_test_per_model_states_severity_and_why(path):
    """Every model and seed with rules has exactly one column_rules test, named rules_<model>, whose
    description states its severity and the reason; staging groups its never-null columns by reason."""
    for entry in _entries(path):
        if entry["name"] not in RULES:
            continue
        names = [name for _, name, _ in _placed_tests(entry)]
        assert names.count("column_rules") == 1, (entry["name"], names)
        assert not {"not_null", "unique", "accepted_values", "not_null_columns"} & set(names), (entry["name"], names)
        rules = _column_rules(entry)
        assert rules["name"] == f"rules_{entry['name']}" and rules.get("description"), entry["name"]
        assert len(_stated_reason(rules)) > 30, (entry["name"], rules.get("description"))
        if path.is_relative_to(STAGING):
            groups = rules["arguments"].get("not_null")
            assert isinstance(groups, dict) and set(groups) <= STAGING_REASONS, (entry["name"], groups)


def test_every_never_null_unique_and_accepted_rule_is_kept():
    """The rules of RULES are all still checked, on documented columns; unique columns say so in their
    description (the rule no longer sits under the column)."""
    seen = set()
    for path in SPECS:
        for entry in _entries(path):
            if entry["name"] not in RULES:
                continue
            seen.add(entry["name"])
            rules, documented = _column_rules(entry), {c["name"]: c.get("description", "") for c in entry["columns"]}
            arguments = rules["arguments"]
            have = (set(_never_null(rules)), set(arguments.get("unique") or []), set(arguments.get("accepted_values") or {}))
            for kind, want, got in zip(("not_null", "unique", "accepted_values"), RULES[entry["name"]], have):
                assert set(want.split()) <= got, f"{entry['name']}: {kind} lost {set(want.split()) - got}"
                assert got <= set(documented), f"{entry['name']}: {kind} names undocumented {got - set(documented)}"
            for column in have[1]:
                assert "unique" in documented[column], f"{entry['name']}.{column}: description does not say unique"
            for column, values in (arguments.get("accepted_values") or {}).items():
                assert values and len(set(map(repr, values))) == len(values), (entry["name"], column, values)
    assert seen == set(RULES)


def test_every_dbt_test_in_the_manifest_says_what_it_guarantees_and_why_it_blocks_or_not():
    """Dagster shows each dbt test as an asset check with the test's description: none is left without one,
    and each states its severity (the one in its config) and why."""
    from orchestration.project import ensure_manifest, load_manifest

    tests = [n for n in load_manifest(ensure_manifest())["nodes"].values() if n["resource_type"] == "test"]
    unexplained = [n["unique_id"] for n in tests
                   if len(_stated_reason({"description": n["description"], "config": n["config"]})) <= 30
                   or len(n["description"].split(VERDICT[n["config"]["severity"]])[0]) <= 20]  # and what it guarantees
    assert len(tests) >= 38 and not unexplained, unexplained
