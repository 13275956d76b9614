"""Log lines on the LOGS stream (`log.<agent>.<test or run id>`): engine output and benchmark progress."""

from datetime import datetime

import msgspec


class LogLine(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    source: str  # "engine" | "kitt"
    line: str
    at: datetime


encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder(LogLine).decode
