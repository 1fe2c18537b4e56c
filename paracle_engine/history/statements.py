"""The SQL the history writer runs for a batch of events, one named statement each.

Status words come from `paracle_engine.vocabulary`, the table the fronts read them back by.
"""

from __future__ import annotations

from paracle_engine.vocabulary import RunStatus, StepStatus

PENDING = StepStatus.PENDING.value
RUNNING = StepStatus.RUNNING.value
COMPLETED = StepStatus.COMPLETED.value
RUN_RUNNING = RunStatus.RUNNING.value

INSERT_RUN = (
    "INSERT OR IGNORE INTO runs(id, kind, status, started_at, owner) "
    f"VALUES (?, 'unknown', '{RUN_RUNNING}', ?, ?)"
)
INSERT_EVENT = "INSERT INTO events(run_id, step_id, type, ts, data) VALUES (?, ?, ?, ?, ?)"
INSERT_USAGE = (
    "INSERT INTO usage(run_id, step_id, provider, model, input_tokens, output_tokens, ts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ADD_RUN_TOKENS = "UPDATE runs SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ? WHERE id = ?"
ADD_STEP_TOKENS = (
    "UPDATE steps SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?"
    " WHERE run_id = ? AND step_id = ?"
)
INSERT_MESSAGES = (
    "INSERT INTO messages(id, run_id, step_id, attempt, role, content, created_at) VALUES "
)
MESSAGE_VALUES = "(?, ?, ?, ?, ?, ?, ?)"
APPEND_MESSAGE = "UPDATE messages SET content = content || ? WHERE id = ?"
# A final answer, unless an assistant message already follows the step's last prompt (a step
# re-announced on resume). Only for steps this writer did not see start.
INSERT_ANSWER_GUARDED = (
    "INSERT INTO messages(run_id, step_id, attempt, role, content, created_at) "
    "SELECT :run, :step, :attempt, 'assistant', :text, :ts WHERE NOT EXISTS ("
    " SELECT 1 FROM messages WHERE run_id = :run AND step_id = :step AND role = 'assistant'"
    " AND id > coalesce((SELECT max(id) FROM messages WHERE run_id = :run"
    " AND step_id = :step AND role = 'user'), 0))"
)
ENSURE_STEP = "INSERT OR IGNORE INTO steps(run_id, step_id, seq, status) VALUES (?, ?, ?, ?)"
# A completed step carried into a resumed run keeps its result.
STEP_PENDING = (
    "INSERT INTO steps(run_id, step_id, seq, agent, status, depends_on) "
    f"VALUES (:run, :step, :seq, :agent, '{PENDING}', :deps) "
    "ON CONFLICT(run_id, step_id) DO UPDATE SET agent = coalesce(excluded.agent, agent),"
    " depends_on = excluded.depends_on,"
    f" status = CASE WHEN status = '{COMPLETED}' THEN status ELSE '{PENDING}' END"
)
STEP_STARTED = (
    "INSERT INTO steps(run_id, step_id, seq, agent, provider, model, status, attempts, started_at) "
    f"VALUES (:run, :step, :seq, :agent, :provider, :model, '{RUNNING}', :attempt, :ts) "
    "ON CONFLICT(run_id, step_id) DO UPDATE SET agent = coalesce(excluded.agent, agent),"
    f" provider = excluded.provider, model = excluded.model, status = '{RUNNING}',"
    " attempts = excluded.attempts, started_at = excluded.started_at, ended_at = NULL,"
    " error = NULL"
)
# A resumed run updates its own row: same id, first start time kept, counted as resumed.
RUN_STARTED = (
    "INSERT INTO runs(id, kind, target, status, task, inputs, provider, model, source,"
    f" step_ids, edges, started_at, owner) VALUES (:id, :kind, :target, '{RUN_RUNNING}', :task,"
    " :inputs, :provider, :model, :source, :step_ids, :edges, :ts, :owner) "
    "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, target = excluded.target,"
    f" status = '{RUN_RUNNING}', task = coalesce(excluded.task, task), inputs = excluded.inputs,"
    " provider = coalesce(excluded.provider, provider), model = coalesce(excluded.model, model),"
    " source = coalesce(excluded.source, source), step_ids = excluded.step_ids,"
    " edges = excluded.edges, owner = excluded.owner, error = NULL, ended_at = NULL,"
    " started_at = CASE WHEN :resumed THEN started_at ELSE excluded.started_at END,"
    " resumed_at = CASE WHEN :resumed THEN excluded.started_at ELSE resumed_at END,"
    " resume_count = resume_count + :resumed"
)
ADD_TOKENS = ", input_tokens = input_tokens + :add_i, output_tokens = output_tokens + :add_o"
# A final event's token total counts only when no per-call usage was counted (SQLite reads the
# old row on the right of every SET, so both columns test the same sum).
FILL_TOKENS = (
    ", input_tokens = CASE WHEN input_tokens + output_tokens = 0 THEN :fill_i"
    " ELSE input_tokens END, output_tokens = CASE WHEN input_tokens + output_tokens = 0"
    " THEN :fill_o ELSE output_tokens END"
)

# Tool calls: a row at ToolCallStarted; later events update the newest row of that call id
# in the step (a step re-run after a crash may reuse call ids), or insert one if the start was
# missed.
INSERT_TOOL_CALL = (
    "INSERT INTO tool_calls(run_id, step_id, attempt, call_id, round, name, arguments, summary,"
    " status, started_at) VALUES (:run, :step, :attempt, :call, :round, :name, :arguments,"
    " :summary, :status, :ts)"
)
_NEWEST_CALL = (
    " WHERE id = (SELECT max(id) FROM tool_calls WHERE run_id = :run AND step_id = :step"
    " AND call_id = :call)"
)
TOOL_WAITING = "UPDATE tool_calls SET status = :status" + _NEWEST_CALL
TOOL_DECIDED = "UPDATE tool_calls SET decision = :decision, rule = :rule" + _NEWEST_CALL
TOOL_FINISHED = (
    "UPDATE tool_calls SET status = :status, result = :result, truncated = :truncated,"
    " duration = :duration" + _NEWEST_CALL
)
