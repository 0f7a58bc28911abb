/*
 * The scripts that keep calls in flight consistent between replicas. Every key a call uses is derived from its lease
 * key (KEYS[1], already prefixed) and its call id, so that a lease key reused by a later call never mixes readers or
 * answers with an earlier one:
 *   <lease>                      the call id of the replica leading the signature's call, with a PX lease; held
 *                                while the call takes followers
 *   <lease>:alive:<call id>      present while the leader beats, until the call ends: what readers watch
 *   <lease>:readers:<call id>    replicas reading that call, scored by when their heartbeat lapses (server time)
 *   <lease>:answer:<call id>     the call's answer as a stream, written once some replica reads along
 */

const SERVER_NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * For each signature at once: leads its call, or registers this replica as a reader of the one running. KEYS the lease
 * keys; ARGV: lease ms, reader id, reader ttl ms, then one call id per key. Returns per key {'lead'} or
 * {'follow', holder}.
 */
export const CLAIM = `
${SERVER_NOW}
local answers = {}
for i, lease in ipairs(KEYS) do
  local callId = ARGV[3 + i]
  if redis.call('SET', lease, callId, 'NX', 'PX', ARGV[1]) then
    redis.call('SET', lease .. ':alive:' .. callId, 1, 'PX', ARGV[1])
    answers[i] = {'lead'}
  else
    local holder = redis.call('GET', lease)
    local readers = lease .. ':readers:' .. holder
    redis.call('ZADD', readers, now + tonumber(ARGV[3]), ARGV[2])
    redis.call('PEXPIRE', readers, ARGV[3])
    answers[i] = {'follow', holder}
  end
end
return answers
`;

/** A reader's heartbeat. ARGV: holder, reader id, reader ttl ms. Returns 1 while the holder's call is alive. */
export const READER_BEAT = `
${SERVER_NOW}
local readers = KEYS[1] .. ':readers:' .. ARGV[1]
redis.call('ZADD', readers, now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', readers, ARGV[3])
return redis.call('EXISTS', KEYS[1] .. ':alive:' .. ARGV[1])
`;

/** A reader leaves. ARGV: holder, reader id. */
export const READER_LEAVE = `
redis.call('ZREM', KEYS[1] .. ':readers:' .. ARGV[1], ARGV[2])
return 1
`;

/**
 * Leaders' heartbeats, several calls at once: each keeps its call alive, and extends its lease (or takes it back
 * after Redis lost it) while it still takes followers. KEYS the lease keys; ARGV: lease ms, then a call id and '1' to
 * hold the lease (else '0') per key. Returns, per call, how many replicas read along.
 */
export const LEADER_BEATS = `
${SERVER_NOW}
local readersPerCall = {}
for i, lease in ipairs(KEYS) do
  local callId = ARGV[2 * i]
  redis.call('SET', lease .. ':alive:' .. callId, 1, 'PX', ARGV[1])
  if ARGV[2 * i + 1] == '1' then
    local holder = redis.call('GET', lease)
    if holder == callId then redis.call('PEXPIRE', lease, ARGV[1])
    elseif not holder then redis.call('SET', lease, callId, 'PX', ARGV[1]) end
  end
  local readers = lease .. ':readers:' .. callId
  redis.call('ZREMRANGEBYSCORE', readers, '-inf', now)
  readersPerCall[i] = redis.call('ZCARD', readers)
end
return readersPerCall
`;

/**
 * A call that runs on takes no more followers: its lease goes (only if it is still this call's). ARGV: call id.
 * Its `alive` key stays, so that readers already attached keep waiting for its end.
 */
export const STOP_TAKING_FOLLOWERS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/**
 * Appends to a call's answer stream and keeps it for a while. KEYS[2] the stream; ARGV: call id, stream ttl ms,
 * '1' if this is the end (the lease is then released), then field, value pairs.
 */
export const APPEND = `
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if ARGV[3] == '1' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
  redis.call('DEL', KEYS[1] .. ':alive:' .. ARGV[1])
end
return 1
`;

/**
 * Ended calls let their signatures go, several at once: KEYS the lease keys, ARGV the call ids in the same order.
 * A call that replicas read along keeps its lease (its answer is still to be written for them); any other loses its
 * lease and stops being alive. Returns, per call, how many replicas read along.
 */
export const RELEASE_ENDED = `
${SERVER_NOW}
local waiting = {}
for i, lease in ipairs(KEYS) do
  local callId = ARGV[i]
  local readers = lease .. ':readers:' .. callId
  redis.call('ZREMRANGEBYSCORE', readers, '-inf', now)
  local count = redis.call('ZCARD', readers)
  if count == 0 then
    if redis.call('GET', lease) == callId then redis.call('DEL', lease) end
    redis.call('DEL', lease .. ':alive:' .. callId)
  end
  waiting[i] = count
end
return waiting
`;
