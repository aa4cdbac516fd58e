"""A change to a job written in one round trip: a script checks, then writes, atomically.

WATCH/MULTI costs a job change five round trips (WATCH, EXISTS, HGETALL, EXEC, and the
connection kept out of the pool between them). A location ping is mostly round trips, so
the change reads the job and its webhook id in one pipelined round trip, decides in Python,
and hands the writes to ``CHECKED_WRITE``: a Lua script that runs them only if the job is
still as read (its document and ``last_seq``) and every key that must be free (the webhook
id, new outbox rows' dedup keys) still is. A script runs atomically, so this is the same
guarantee as the WATCHed transaction it replaces; otherwise the caller reads again.

The writes are queued by the same ``queue_*`` functions a MULTI uses, on a pipeline that is
never executed: redis-py builds each command's words, and the script runs them as given.
They travel as one JSON argument (Redis's Lua has cjson), not as one argument per word:
redis-py's per-argument encoding was a fifth of a ping's CPU.
The script names only the keys it checks (all keys of one portal live on one server: the
store does not run on Redis Cluster, whose MULTI would refuse them too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from portal.store.rules import compact_json

# KEYS[1] is the job's hash, KEYS[2..] the keys that must be free; ARGV[1] the job's
# ``version`` as read, ARGV[2] the commands as a JSON list of lists of words. Returns 0 when
# written, -1 when the job changed since it was read, or i >= 1 when the i-th key that had to
# be free is taken (nothing is written in either case).
CHECKED_WRITE = """
local doc = redis.call('HGET', KEYS[1], 'doc')
local seen = ''
if doc then
  seen = redis.sha1hex(doc) .. ':' .. (redis.call('HGET', KEYS[1], 'last_seq') or '')
end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return i - 1 end
end
if seen ~= ARGV[1] then return -1 end
for _, words in ipairs(cjson.decode(ARGV[2])) do
  redis.call(unpack(words))
end
return 0
"""

WRITTEN = 0


def version(raw: Mapping[str, str]) -> str:
    """What ``CHECKED_WRITE`` compares: the job's document and last event number as read ('' for none)."""
    doc = raw.get("doc")
    if doc is None:
        return ""
    return hashlib.sha1(doc.encode(), usedforsecurity=False).hexdigest() + ":" + raw.get("last_seq", "")


def commands(pipe: Pipeline) -> str:
    """The queued commands as the script reads them: a JSON list of each one's words."""
    return compact_json([[_word(word) for word in args] for args, _ in pipe.command_stack])


def _word(word: object) -> str:
    """One word as text, as redis-py would have sent it: a number in Lua would be sent back as an
    integer, or rounded to 14 digits, so numbers go as their ``repr`` (which is redis-py's)."""
    if isinstance(word, str):
        return word
    if isinstance(word, bytes):
        return word.decode()
    if isinstance(word, int | float) and not isinstance(word, bool):
        return repr(word)
    raise TypeError(f"a Redis command word must be text or a number, not {type(word).__name__}")


class CheckedWrite:
    """``CHECKED_WRITE`` registered once per client (redis-py loads it again after a Redis restart)."""

    def __init__(self, client: Redis) -> None:
        self._script: AsyncScript = client.register_script(CHECKED_WRITE)

    async def __call__(self, job_key: str, seen: str, free: Sequence[str], writes: Pipeline) -> int:
        """Run ``writes`` if the job is still at ``seen`` and every key in ``free`` is unset."""
        return int(await self._script(keys=[job_key, *free], args=[seen, commands(writes)]))
