#!lua name=tsapi
-- tsapi's Redis functions (loaded by tsdb/functions.py): changes that must be atomic.
--
-- The series index (tsdb/index.py) lives under a prefix P given as an argument (key names in
-- tsdb/keys.py): P..'series' is a sorted set of every series key (score 0, ordered by key),
-- P..'names' a hash label name -> number of series with it, P..'values:'..name a hash
-- value -> number of series with it, P..'meta' the index's state, P..'generation' a number
-- every alter, delete and index rebuild moves (writers' memory of settled series,
-- tsdb/known.py). Every function that creates, relabels or deletes a series changes the
-- index in the same call. On a Redis Cluster P holds a hash tag of a slot of the series'
-- own node (allow-cross-slot-keys).

-- TS.INFO's value for a field (names arrive as status replies: tables with an 'ok' field).
local function info_field(info, name)
  for i = 1, #info, 2 do
    local field = info[i]
    if type(field) == 'table' then field = field.ok end
    if field == name then return info[i + 1] end
  end
  return nil
end

-- The labels of a TS.INFO reply as a flat list {name, value, name, value, ...}.
-- Series under tsapi's own prefix (tsdb/keys.py PREFIX: the parts of rollup tiers) are
-- tsapi's, not users': never indexed, never listed. Users cannot make such keys.
local function is_own(key)
  return string.sub(key, 1, 6) == 'tsapi:'
end

local function info_labels(info)
  local flat = {}
  for _, pair in ipairs(info_field(info, 'labels') or {}) do
    flat[#flat + 1] = pair[1]
    flat[#flat + 1] = pair[2]
  end
  return flat
end

-- The labels given to TS.CREATE/TS.ALTER options args[first..] (nil without LABELS).
local function option_labels(args, first)
  local i = first
  while i <= #args do
    local option = string.upper(args[i])
    if option == 'LABELS' then
      local flat = {}
      for j = i + 1, #args do flat[#flat + 1] = args[j] end
      return flat
    elseif option == 'IGNORE' then
      i = i + 3
    else
      i = i + 2
    end
  end
  return nil
end

-- Add delta to the count of every label name and name=value in labels.
local function count(prefix, labels, delta)
  for i = 1, #labels - 1, 2 do
    local name, value = labels[i], labels[i + 1]
    if redis.call('HINCRBY', prefix .. 'names', name, delta) <= 0 then
      redis.call('HDEL', prefix .. 'names', name)
    end
    local values = prefix .. 'values:' .. name
    if redis.call('HINCRBY', values, value, delta) <= 0 then
      redis.call('HDEL', values, value)
    end
  end
end

-- Index new series: entries {key, labels}, none indexed yet as far as the caller knows. One
-- ZMSCORE, one ZADD and one HINCRBY per distinct label name and value, whatever their number.
local function index_add_many(prefix, entries)
  if #entries == 0 then return end
  local keys = {}
  for i, entry in ipairs(entries) do keys[i] = entry[1] end
  local scores = redis.call('ZMSCORE', prefix .. 'series', unpack(keys))
  local members, names, values = {}, {}, {}
  for i, entry in ipairs(entries) do
    if scores[i] == false then
      members[#members + 1] = 0
      members[#members + 1] = entry[1]
      local labels = entry[2]
      for j = 1, #labels - 1, 2 do
        local name, value = labels[j], labels[j + 1]
        names[name] = (names[name] or 0) + 1
        local per = values[name] or {}
        per[value] = (per[value] or 0) + 1
        values[name] = per
      end
    end
  end
  if #members == 0 then return end
  redis.call('ZADD', prefix .. 'series', 'NX', unpack(members))
  for name, n in pairs(names) do
    redis.call('HINCRBY', prefix .. 'names', name, n)
    for value, c in pairs(values[name]) do
      redis.call('HINCRBY', prefix .. 'values:' .. name, value, c)
    end
  end
end

-- Index a series with its labels unless it is indexed already; 1 when it was added.
local function index_add(prefix, key, labels)
  if redis.call('ZADD', prefix .. 'series', 'NX', 0, key) == 1 then
    count(prefix, labels, 1)
    return 1
  end
  return 0
end

-- Move the generation next to the index: writers forget the series they knew settled
-- (tsdb/known.py). A value that is not a number (written by hand) is replaced by the clock.
local function bump(prefix)
  local key = prefix .. 'generation'
  if not pcall(redis.call, 'INCR', key) then
    local now = redis.call('TIME')
    redis.call('SET', key, now[1] .. string.format('%06d', tonumber(now[2])))
  end
end

-- The message of an error caught by pcall.
local function message(err)
  if type(err) == 'table' and err.err then return err.err end
  return tostring(err)
end

-- Ensure one series (see ensure); returns state, retention (or the module's message), last.
local function ensure_one(prefix, key, create, options, labels, incoming, chunks, created)
  if redis.call('EXISTS', key) == 0 then
    if not create then return -1, 0, 0, 0 end
    local argv = {key}
    for _, option in ipairs(options) do argv[#argv + 1] = option end
    if not chunks.given then
      argv[#argv + 1] = 'CHUNK_SIZE'
      if incoming >= chunks.grow then argv[#argv + 1] = chunks.large
      else argv[#argv + 1] = chunks.small end
    end
    if #labels > 0 then
      argv[#argv + 1] = 'LABELS'
      for _, item in ipairs(labels) do argv[#argv + 1] = item end
    end
    local ok, err = pcall(redis.call, 'TS.CREATE', unpack(argv))
    if not ok then return -2, message(err), 0, 0 end
    created[#created + 1] = {key, labels}
    return 1, chunks.retention, 0, 0
  end
  local ok, info = pcall(redis.call, 'TS.INFO', key)
  if not ok then return -2, message(info), 0, 0 end
  if redis.call('ZSCORE', prefix .. 'series', key) == false then
    index_add(prefix, key, info_labels(info))
  end
  local total = info_field(info, 'totalSamples')
  local settled = 1
  if info_field(info, 'chunkSize') == chunks.small then
    if total + incoming >= chunks.grow then
      redis.call('TS.ALTER', key, 'CHUNK_SIZE', chunks.large)
    else
      settled = 0
    end
  end
  local last = 0
  if total > 0 then last = info_field(info, 'lastTimestamp') end
  return 0, info_field(info, 'retentionTime'), last, settled
end

-- KEYS: series to write to. ARGV[1]: the index prefix; ARGV[2]: '1' to create missing ones;
-- ARGV[3], ARGV[4], ARGV[5]: tsapi's small and large chunk sizes and the samples from which
-- a series at the small one moves to the large one (a new series written that many samples
-- at once starts large; without CHUNK_SIZE in the options, new series start small);
-- ARGV[6]: n, the number of TS.CREATE options that follow in ARGV[7..6+n] (no LABELS);
-- then for each key: the samples about to be written to it, m, and m label arguments.
-- Returns {state, retention, last, settled} for each key, flattened: state 1 = created
-- (retention -1 = the server's default), 0 = existed, -1 = missing and not created, -2 =
-- refused (retention is then the module's message); settled 1 = existed, is indexed and is
-- at the large chunk size, so that only an alter or a delete can change this answer (see
-- tsdb/known.py). A series that exists but is not indexed (made behind tsapi's back) is
-- indexed now.
local function ensure(keys, args)
  local prefix, create = args[1], args[2] == '1'
  local chunks = {small = tonumber(args[3]), large = args[4], grow = tonumber(args[5]),
                  given = false, retention = -1}
  local options = {}
  local n = tonumber(args[6])
  for i = 7, 6 + n do options[#options + 1] = args[i] end
  for i = 1, #options - 1 do
    local option = string.upper(options[i])
    if option == 'CHUNK_SIZE' then chunks.given = true end
    if option == 'RETENTION' then chunks.retention = tonumber(options[i + 1]) end
  end
  local at = 7 + n
  local out, created = {}, {}
  for _, key in ipairs(keys) do
    local incoming, m = tonumber(args[at]), tonumber(args[at + 1])
    local labels = {}
    for i = at + 2, at + 1 + m do labels[#labels + 1] = args[i] end
    at = at + 2 + m
    local state, retention, last, settled = ensure_one(prefix, key, create, options, labels,
                                                       incoming, chunks, created)
    out[#out + 1] = state
    out[#out + 1] = retention
    out[#out + 1] = last
    out[#out + 1] = settled
  end
  index_add_many(prefix, created)
  return out
end

-- KEYS[1]: a series. ARGV[1]: the index prefix; ARGV[2..]: TS.CREATE options. Creates the
-- series (the module's error when it exists) and indexes it.
local function create(keys, args)
  redis.call('TS.CREATE', keys[1], unpack(args, 2))
  index_add(args[1], keys[1], option_labels(args, 2) or {})
  return 1
end

-- KEYS[1]: a series. ARGV[1]: the index prefix; ARGV[2..]: TS.ALTER options. With LABELS,
-- the index trades the old labels for the new ones.
local function alter(keys, args)
  local key, prefix = keys[1], args[1]
  local new = option_labels(args, 2)
  local info = redis.call('TS.INFO', key)
  redis.call('TS.ALTER', key, unpack(args, 2))
  if index_add(prefix, key, new or info_labels(info)) == 0 and new then
    count(prefix, info_labels(info), -1)
    count(prefix, new, 1)
  end
  bump(prefix)
  return 1
end

-- KEYS[1]: a series. ARGV[1]: the index prefix. Deletes the series and its index entry;
-- 0 when there was no such series.
local function delete(keys, args)
  local key, prefix = keys[1], args[1]
  local kind = redis.call('TYPE', key)
  if type(kind) == 'table' then kind = kind.ok end
  if kind ~= 'TSDB-TYPE' then return 0 end
  local labels = info_labels(redis.call('TS.INFO', key))
  redis.call('DEL', key)
  if redis.call('ZREM', prefix .. 'series', key) == 1 then count(prefix, labels, -1) end
  bump(prefix)
  return 1
end

-- No keys. ARGV: the index prefix, a SCAN cursor, a batch size. Indexes the series of the
-- next batch of this node's keys that are not indexed yet (rebuild). Returns {cursor, added}.
local function index_scan(_, args)
  local prefix = args[1]
  local reply = redis.call('SCAN', args[2], 'COUNT', args[3], 'TYPE', 'TSDB-TYPE')
  local added = 0
  for _, key in ipairs(reply[2]) do
    if not is_own(key) and redis.call('ZSCORE', prefix .. 'series', key) == false then
      added = added + index_add(prefix, key, info_labels(redis.call('TS.INFO', key)))
    end
  end
  return {reply[1], added}
end

-- No keys. ARGV: a SCAN cursor, a batch size. The series of the next batch of this node's
-- keys with their labels: {cursor, {key, name, value, ...}, ...} (index check).
local function series_scan(_, args)
  local reply = redis.call('SCAN', args[1], 'COUNT', args[2], 'TYPE', 'TSDB-TYPE')
  local found = {}
  for _, key in ipairs(reply[2]) do
    if not is_own(key) then
      local entry = info_labels(redis.call('TS.INFO', key))
      table.insert(entry, 1, key)
      found[#found + 1] = entry
    end
  end
  return {reply[1], found}
end

-- No keys. ARGV: series keys of this node. Their labels, {name, value, ...} each, or
-- false for a key that holds no series.
local function labels(_, args)
  local found = {}
  for i, key in ipairs(args) do
    local ok, info = pcall(redis.call, 'TS.INFO', key)
    if ok then found[i] = info_labels(info) else found[i] = false end
  end
  return found
end

-- No keys. ARGV[1]: the index prefix; ARGV[2]: the state to leave in its meta hash;
-- ARGV[3..]: other keys to drop (indexes under prefixes no longer in use). Empties the
-- index in one step (rebuild).
local function clear(_, args)
  local prefix = args[1]
  local dropped = 0
  for _, name in ipairs(redis.call('HKEYS', prefix .. 'names')) do
    dropped = dropped + redis.call('UNLINK', prefix .. 'values:' .. name)
  end
  for _, key in ipairs({prefix .. 'names', prefix .. 'series', prefix .. 'meta'}) do
    dropped = dropped + redis.call('UNLINK', key)
  end
  for i = 3, #args do dropped = dropped + redis.call('UNLINK', args[i]) end
  redis.call('HSET', prefix .. 'meta', 'state', args[2])
  bump(prefix)
  return dropped
end

-- KEYS[1]: a series; ARGV: t, v. Sets the value at t whatever the duplicate policy and the
-- IGNORE filter (which would drop it silently), then restores the filter. Returns 1 when the
-- point is new, 0 when it replaced one.
local function set_point(keys, args)
  local key, t, v = keys[1], args[1], args[2]
  local info = redis.call('TS.INFO', key)
  local time_diff = info_field(info, 'ignoreMaxTimeDiff') or 0
  local val_diff = info_field(info, 'ignoreMaxValDiff') or '0'
  local ignoring = time_diff ~= 0 or tonumber(val_diff) ~= 0
  local existed = #redis.call('TS.RANGE', key, t, t) > 0
  if ignoring then redis.call('TS.ALTER', key, 'IGNORE', 0, 0) end
  local added = redis.pcall('TS.ADD', key, t, v, 'ON_DUPLICATE', 'LAST')
  if ignoring then redis.call('TS.ALTER', key, 'IGNORE', time_diff, val_diff) end
  if type(added) == 'table' and added.err then return added end
  if existed then return 0 end
  return 1
end

local cross = {'allow-cross-slot-keys'}
local function register(name, callback, flags)
  redis.register_function{function_name = name, callback = callback, flags = flags}
end
register('tsapi_ensure', ensure, cross)
register('tsapi_create', create, cross)
register('tsapi_alter', alter, cross)
register('tsapi_delete', delete, cross)
register('tsapi_index_scan', index_scan, cross)
register('tsapi_series_scan', series_scan, {'allow-cross-slot-keys', 'no-writes'})
register('tsapi_labels', labels, {'allow-cross-slot-keys', 'no-writes'})
register('tsapi_index_clear', clear, cross)
register('tsapi_set_point', set_point, {})
