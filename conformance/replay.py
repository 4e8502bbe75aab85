"""Exact replay of a counterexample: a token (or file) holding the property, adapter and case.

The payload is the case with every float as its bit pattern, so replay does not depend on
hypothesis's version-bound example blobs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from adamspec.conformance.cases import Case, _case_from_obj, _case_to_obj

TOKEN_PREFIX = "asr1."
MAX_TOKEN = 1500  # longer payloads go to a file; the command names the file instead
CASE_DIR = Path("adamspec-cases")  # the CLI's default --replay-dir


@dataclass(frozen=True)
class ReplayPayload:
    property: str
    adapter: str
    case: Case
    claim: str | None = None

    def to_json(self) -> str:
        return json.dumps({"format": "adamspec-replay/1", "property": self.property,
                           "adapter": self.adapter, "claim": self.claim,
                           "case": _case_to_obj(self.case)}, separators=(",", ":"))


def encode(payload: ReplayPayload) -> str:
    raw = zlib.compress(payload.to_json().encode(), 9)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str) -> ReplayPayload:
    """A token, or the path of a file holding a payload (or a token)."""
    text = text.strip()
    if not text.startswith(TOKEN_PREFIX):
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"{text!r} is neither a replay token ({TOKEN_PREFIX}…) nor a file")
        body = path.read_text(encoding="utf-8").strip()
        return decode(body) if body.startswith(TOKEN_PREFIX) else _from_json(body)
    b64 = text[len(TOKEN_PREFIX):]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"corrupt replay token: {exc}") from None
    return _from_json(raw.decode())


def _from_json(text: str) -> ReplayPayload:
    o = json.loads(text)
    if o.get("format") != "adamspec-replay/1":
        raise ValueError(f"not an adamspec replay payload (format {o.get('format')!r})")
    return ReplayPayload(o["property"], o["adapter"], _case_from_obj(o["case"]), o.get("claim"))


def replay_command(prop: str, adapter: str, case: Case, claim: str | None = None,
                   directory: Path | None = None) -> str:
    """The one-line command replaying this counterexample: a token, or, for a case too large for
    one, a file written into ``directory`` — only where the caller names one (the CLI's
    ``--replay-dir``); a library call or the pytest plugin never writes files."""
    payload = ReplayPayload(prop, adapter, case, claim)
    token = encode(payload)
    if len(token) <= MAX_TOKEN:
        return f"adamspec replay {token}"
    if directory is None:
        return (f"(a case too large for a token: the report's case_json holds it; `adamspec run "
                f"--replay-dir DIR` writes it to DIR/{prop}-….json)")
    digest = hashlib.sha256(token.encode()).hexdigest()[:12]
    path = Path(directory) / f"{prop}-{digest}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload.to_json(), encoding="utf-8")
    return f"adamspec replay {path}"
