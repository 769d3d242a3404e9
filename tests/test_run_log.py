"""A flow run's logs carry castline's own records and the plan with its warnings."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub


def run_logs(flow_run_id: UUID, wanted: str) -> list[str]:
    """The messages of a flow run, once ``wanted`` is among them (logs are sent in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    deadline, messages = time.monotonic() + 20, list[str]()
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and not any(wanted in m for m in messages):
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            messages = [log.message for log in logs]
            time.sleep(0.2)
    return messages


def test_castline_records_reach_the_flow_run_and_nothing_else_breaks(prefect_harness, caplog) -> None:
    from prefect import flow

    from flows.run_log import log_to_the_flow_run

    @flow
    def takes_over() -> None:
        log_to_the_flow_run()
        logging.getLogger("castline.claims").info("take 4a7f: the claim of pid 12 on box is dead; taking it over")
        logging.getLogger("castline.claims").debug("not sent: below INFO")

    state = takes_over(return_state=True)
    assert state.state_details.flow_run_id is not None
    messages = run_logs(state.state_details.flow_run_id, "taking it over")
    assert "take 4a7f: the claim of pid 12 on box is dead; taking it over" in messages
    assert not any("below INFO" in m for m in messages)
    logging.getLogger("castline.claims").warning("outside any flow run")  # dropped by the handler, no error
    assert "attempted to send logs" not in caplog.text


@pytest.mark.e2e
def test_a_render_logs_its_plan_and_warnings(tmp_path: Path, prefect_harness) -> None:
    from flows.audiobook import audiobook

    write_epub(tmp_path / "book.epub", [("One", ["A short sentence."])])
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "audiobook", "credits": NO_CREDITS, "title": "T", "author": "A", "language": "de", "source": "book.epub",
        "voices": {"narrator": "joe"}, "output": {"dir": "out", "formats": ["m4b"]},
    }))
    state = audiobook(str(manifest), return_state=True)
    assert state.is_completed() and state.state_details.flow_run_id is not None
    messages = run_logs(state.state_details.flow_run_id, "speaks 'en'")
    assert any(m.startswith("book.yaml: 1 of 1 chapters, ") and "narrator=joe (piper)" in m for m in messages), messages
    assert "voice 'joe' (narrator) speaks 'en' but the book is in 'de'" in messages
