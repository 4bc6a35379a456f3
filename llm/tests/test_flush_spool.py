"""manage.py flush_spool: writes the spool once, says what it did, fails while records remain."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from llm.models import LLMRequestLog
from llm.sources.groq import groq_service

pytestmark = pytest.mark.django_db


def refuse_log_inserts(execute, sql, params, many, context):
    if sql.lstrip().upper().startswith("INSERT") and LLMRequestLog._meta.db_table in sql:
        raise OperationalError("database is locked")
    return execute(sql, params, many, context)


def test_it_writes_spooled_calls_and_reports_counts(fake_groq, capsys):
    with connection.execute_wrapper(refuse_log_inserts):
        groq_service.complete(prompt="a")
        groq_service.complete(prompt="b")

    call_command("flush_spool")
    assert capsys.readouterr().out.strip() == "Written 2, already stored 0, remaining 0."
    call_command("flush_spool")
    assert capsys.readouterr().out.strip() == "Written 0, already stored 0, remaining 0."
    assert LLMRequestLog.objects.count() == 2


def test_it_exits_non_zero_while_a_record_cannot_be_written(_isolated_spool, capsys):
    _isolated_spool.parent.mkdir(parents=True, exist_ok=True)
    _isolated_spool.write_text(json.dumps({"fields": {"request_id": "not-a-uuid"}}) + "\n")

    with pytest.raises(CommandError, match="1 spooled calls could not be written yet"):
        call_command("flush_spool")

    assert capsys.readouterr().out.strip() == "Written 0, already stored 0, remaining 1."
    assert _isolated_spool.read_text().count("\n") == 1


def test_it_says_another_flush_is_running_and_exits_zero(_isolated_spool, capsys):
    from llm.calls import spool

    _isolated_spool.parent.mkdir(parents=True, exist_ok=True)
    _isolated_spool.write_text(json.dumps({"fields": {"request_id": "not-a-uuid"}}) + "\n")
    with spool._locked(".flush.lock") as acquired:  # what a first, still running flush_spool holds
        assert acquired
        call_command("flush_spool")  # no CommandError: exit status 0
    assert capsys.readouterr().out.strip() == (
        "Another flush_spool is writing the spool now (1 calls pending); nothing to do."
    )
    assert _isolated_spool.read_text().count("\n") == 1  # left for the first run


def test_it_exits_zero_from_a_second_process_while_the_first_holds_the_spool(_isolated_spool, settings):
    import subprocess
    import sys

    from llm.calls import spool

    _isolated_spool.parent.mkdir(parents=True, exist_ok=True)
    _isolated_spool.write_text(json.dumps({"fields": {"request_id": "not-a-uuid"}}) + "\n")
    code = (
        "import django, sys; from pathlib import Path; django.setup(); from django.conf import settings; "
        f"settings.LLM_SPOOL_PATH = Path({str(_isolated_spool)!r}); "
        "from django.core.management import call_command; call_command('flush_spool')"
    )
    with spool._locked(".flush.lock"):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Another flush_spool is writing the spool now (1 calls pending)" in result.stdout
