"""The demo flow: fetch a document, analyse it along two branches in parallel, score each topic (a map
step), merge the analyses and save them. Each handler takes about a second, as if it called a service.

    fetch_data ──> analyze_sentiment ────────────────────────┐
              └──> analyze_topics ──> score_topic (map) ─────┴──> merge_analysis ──> save_results
"""

from __future__ import annotations

import time
from typing import Any

import pgflow

STEP_SECONDS = 1.0
ELEMENT_SECONDS = 0.3

flow = pgflow.Flow("analyze_document", max_attempts=3, timeout=30)


@flow.step
def fetch_data(input: dict[str, Any]) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    return {"url": input["url"], "text": "PostgreSQL runs the workflow; Python runs the handlers."}


@flow.step(depends_on=[fetch_data])
def analyze_sentiment(deps: dict[str, Any]) -> str:
    time.sleep(STEP_SECONDS)
    return "positive" if "runs" in deps["fetch_data"]["text"] else "neutral"


@flow.step(depends_on=[fetch_data])
def analyze_topics(deps: dict[str, Any]) -> list[str]:
    time.sleep(STEP_SECONDS)
    return ["postgresql", "workflows", "python"]


@flow.map(over=analyze_topics)
def score_topic(topic: str) -> dict[str, Any]:
    time.sleep(ELEMENT_SECONDS)
    return {"topic": topic, "score": round(len(topic) / 10, 1)}


@flow.step(depends_on=[analyze_sentiment, score_topic])
def merge_analysis(deps: dict[str, Any], ctx: pgflow.Context) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    return {"url": ctx.flow_input["url"], "sentiment": deps["analyze_sentiment"], "topics": deps["score_topic"]}


@flow.step(depends_on=[merge_analysis])
def save_results(deps: dict[str, Any]) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    return {"saved": True, "analysis": deps["merge_analysis"]}
