{#-
  Satisfaction survey counts (SPEC "Service"): the aggregate columns kpi_monthly and
  service_performance both build their CSAT and NPS from, over rows with `csat` (1-5) and `nps` (0-10).
    csat_responses = answers with a CSAT score; csat_satisfied = of those, score >= 4
    nps_responses  = answers with an NPS score; nps_promoters = score >= 9; nps_detractors = score <= 6
  CSAT % = 100 x csat_satisfied / csat_responses; NPS = 100 x (promoters - detractors) / nps_responses.
-#}
{% macro survey_counts(csat='csat', nps='nps') -%}
    count({{ csat }}) as csat_responses,
    sum(case when {{ csat }} >= 4 then 1 else 0 end) as csat_satisfied,
    count({{ nps }}) as nps_responses,
    sum(case when {{ nps }} >= 9 then 1 else 0 end) as nps_promoters,
    sum(case when {{ nps }} <= 6 then 1 else 0 end) as nps_detractors
{%- endmacro %}
