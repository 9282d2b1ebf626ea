//! The Lua scripts of the Redis backend. Each runs atomically in Redis, so
//! a check and the write it guards cannot be split by another node's write:
//! the fence (the owner's lease generation) and the next seq are compared
//! inside the same script that appends, which is what makes a paused or
//! partitioned old owner harmless (docs/PROTOCOL.md §22,
//! `../mod.rs` for the keys). `redis::Script` sends EVALSHA and reloads a
//! script on NOSCRIPT, which a restarted Redis answers.

use ::redis::Script;
use std::sync::LazyLock;

/// KEYS: state, viewer token, viewer token's index, publisher token,
/// unfinished set. ARGV: job id, state JSON, status, end time or '',
/// input path or '', params, checkpointed at, viewer hash, viewer expiry,
/// publisher hash or '', publisher expiry, owner, terminal (1/0).
/// Answers 0 when the job exists.
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', ARGV[2], 'status', ARGV[3],
  'params', ARGV[6], 'cp_at', ARGV[7], 'cursor', 0, 'last_seq', 0, 'reserved', 0,
  'fence', 1, 'owner', ARGV[12])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'end_time', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'input', ARGV[5]) end
redis.call('HSET', KEYS[2], 'hash', ARGV[8], 'exp', ARGV[9])
redis.call('SET', KEYS[3], ARGV[1])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[4], 'hash', ARGV[10], 'exp', ARGV[11])
end
if ARGV[13] == '0' then redis.call('SADD', KEYS[5], ARGV[1]) end
return 1
",
    )
});

/// KEYS: the token hash, the old hash's index, the new hash's index.
/// ARGV: old hash, new hash, expiry, job id, indexed (1/0: the publisher's
/// key has no index, it is only read by job id). Answers 1 when swapped.
pub(super) static REPLACE_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[2], 'exp', ARGV[3], 'prev', ARGV[1])
if ARGV[5] == '1' then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], ARGV[4])
end
return 1
",
    )
});

/// The write path of an owner: events, output and state in one step.
///
/// KEYS: state, events, books, duplicates, errors, works, unfinished set,
/// ended index.
/// ARGV: fence, retain, writer, job id, then counts: events, books,
/// duplicates, errors; then has-state (1/0) with state JSON, status, end
/// time or '', cursor, checkpointed at, reserved, terminal (1/0); then each
/// event as seq, kind letter, JSON, idempotency key or ''; each book as
/// work id or '', JSON; each duplicate JSON; each error JSON.
///
/// Answers 'OK', or 'NOJOB', 'FENCED' (a newer owner holds the job),
/// 'TERMINAL' (the job ended: its last state is sticky), or 'SEQ:<last>'
/// (an event that neither repeats a logged one nor follows the last).
pub(super) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local st = KEYS[1]
local fence = redis.call('HGET', st, 'fence')
if not fence then return 'NOJOB' end
if fence ~= ARGV[1] then return 'FENCED' end
local status = redis.call('HGET', st, 'status')
if status == 'complete' or status == 'failed' or status == 'cancelled' then
  return 'TERMINAL'
end
local n_ev, n_books, n_dups, n_err = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local i = 17
local last = tonumber(redis.call('HGET', st, 'last_seq'))
local reserved = tonumber(redis.call('HGET', st, 'reserved'))
-- Every seq is checked before anything is written: a refused call writes nothing.
local probe = last
for e = 0, n_ev - 1 do
  local seq = tonumber(ARGV[i + 4 * e])
  if seq > probe then
    if seq ~= probe + 1 and not (probe <= reserved and seq == reserved + 1) then
      return 'SEQ:' .. probe
    end
    probe = seq
  end
end
local progress = 0
for e = 0, n_ev - 1 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    local fields = {'e', ARGV[i + 2], 'k', ARGV[i + 1], 'n', ARGV[3]}
    if ARGV[i + 3] ~= '' then fields[7] = 'i'; fields[8] = ARGV[i + 3] end
    redis.call('XADD', KEYS[2], seq .. '-0', unpack(fields))
    last = seq
  end
  i = i + 4
end
redis.call('HSET', st, 'last_seq', last)
local retain = tonumber(ARGV[2])
if n_ev > 0 and last > retain then
  redis.call('XTRIM', KEYS[2], 'MINID', (last - retain + 1) .. '-0')
end
for b = 1, n_books do
  local len = redis.call('RPUSH', KEYS[3], ARGV[i + 1])
  if ARGV[i] ~= '' then redis.call('HSET', KEYS[6], ARGV[i], len - 1) end
  i = i + 2
end
for d = 1, n_dups do redis.call('RPUSH', KEYS[4], ARGV[i]); i = i + 1 end
for r = 1, n_err do redis.call('RPUSH', KEYS[5], ARGV[i]); i = i + 1 end
if ARGV[9] == '1' then
  redis.call('HSET', st, 'state', ARGV[10], 'status', ARGV[11], 'cursor', ARGV[13],
    'cp_at', ARGV[14], 'reserved', ARGV[15])
  if ARGV[12] ~= '' then redis.call('HSET', st, 'end_time', ARGV[12]) end
  if ARGV[16] == '1' then
    redis.call('HDEL', st, 'input')
    redis.call('SREM', KEYS[7], ARGV[4])
    -- An end time is what the 24 h cleanup goes by; a terminal state
    -- without one (none is built so) stays out of the index, not an error.
    if ARGV[12] ~= '' then redis.call('ZADD', KEYS[8], ARGV[12], ARGV[4]) end
  end
end
return 'OK'
",
    )
});

/// A new owner for a job that has not ended: the fence goes up by one, so
/// every write of the previous owner is refused from here on.
/// KEYS: state. ARGV: owner. Answers the new fence, or nil.
pub(super) static TAKE_OVER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'complete' or status == 'failed' or status == 'cancelled' then
  return false
end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
return fence
",
    )
});

/// KEYS: state. ARGV: seq. Raises the acknowledged seq, never lowers it.
pub(super) static ACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local a = tonumber(redis.call('HGET', KEYS[1], 'acked') or '0')
if tonumber(ARGV[1]) > a then redis.call('HSET', KEYS[1], 'acked', ARGV[1]) end
return 1
",
    )
});

/// KEYS: every key of the job, the viewer token second (state, tokens,
/// events, output), then the unfinished set and the ended index. ARGV: job
/// id, the token index's prefix, the number of job keys.
pub(super) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(ARGV[3])
local h = redis.call('HGET', KEYS[2], 'hash')
if h then redis.call('DEL', ARGV[2] .. h) end
for k = 1, n do redis.call('DEL', KEYS[k]) end
redis.call('SREM', KEYS[n + 1], ARGV[1])
redis.call('ZREM', KEYS[n + 2], ARGV[1])
return 1
",
    )
});
