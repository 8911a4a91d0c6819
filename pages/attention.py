"""Attention: which months the hybrid attention mixes, per head or averaged, for one county or all."""

import streamlit as st

from geoapp.analysis.attention import summarise_attention
from geoapp.app_support.page import error_box, page_header, setup_page
from geoapp.app_support.yield_views import (
    attention_choice,
    attention_model_names,
    cached_attention,
    checkpoint_select,
    critical_months_caption,
    drawn_checkpoint_caption,
    has_attention,
    no_labels_message,
    scope_select,
    true_critical_months,
)
from geoapp.viz.charts import attention_heatmap, attention_received

ctx = setup_page("Attention")
if ctx is not None:
    ds, year = ctx.dataset, ctx.year
    page_header(ds, f"Attention over the months, {year}")
    with error_box():
        deep_only = f"Pick a {attention_model_names()} checkpoint in the sidebar: attention belongs to the attention models."
        checkpoint = checkpoint_select(ds, year, pick_hint=deep_only)
        if checkpoint is None:
            st.stop()
        if not has_attention(checkpoint):
            st.info(deep_only)
            st.stop()
        if empty := no_labels_message(ds, year):
            st.info(empty)
            st.stop()
        att, geoids, g_effect = cached_attention(str(checkpoint), str(ds.root), year)
        drawn_checkpoint_caption(ds, checkpoint)
        layers, _, heads = att.shape[:3]
        c1, c2, c3 = st.columns(3)
        county = scope_select(ds, geoids, c1)
        layer = c2.selectbox("Layer", list(range(layers)), format_func=lambda i: f"layer {i + 1}", key="att_layer")
        head = c3.selectbox(
            "Head", ["mean", *range(heads)], format_func=lambda h: h if h == "mean" else f"head {h + 1}", key="att_head"
        )
        summary = summarise_attention(att, None if county is None else geoids.index(county))
        matrix, received, which = attention_choice(summary.per_head, layer, head)
        where = "all labelled counties" if county is None else ds.county_label(county)
        where += " (simulated)" if ds.simulated else ""  # a figure saved from its toolbar keeps the label
        left, right = st.columns(2)
        left.plotly_chart(attention_heatmap(matrix, f"Attention S, {which}<br>{where}"), width="stretch")
        right.plotly_chart(
            attention_received(received, true_critical_months(ds), f"Attention each month receives, {which}<br>{where}"),
            width="stretch",
        )
        st.caption(critical_months_caption(ds))
        if g_effect is not None:
            st.markdown(
                f"**What the global query G adds** (the whole model, every head, all labelled counties of {year}): "
                f"setting G to 0 changes the attention weights by "
                f"{g_effect['mean_abs_attention_change']:.4f} on average and the predictions by "
                f"{g_effect['rms_prediction_change_bu']:.2f} bu/acre (RMS)."
            )
