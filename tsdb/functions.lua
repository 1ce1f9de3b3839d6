#!lua name=tsapi
-- tsapi's Redis functions (loaded by tsdb/functions.py): changes that must be atomic.

-- TS.INFO's value for a field (names arrive as status replies: tables with an 'ok' field).
local function info_field(info, name)
  for i = 1, #info, 2 do
    local field = info[i]
    if type(field) == 'table' then field = field.ok end
    if field == name then return info[i + 1] end
  end
  return nil
end

-- KEYS[1]: a series. ARGV[1]: '1' to create it when missing; ARGV[2..]: TS.CREATE options.
-- Returns {state, retention, last}: state 1 = created (retention -1 = the server's default),
-- 0 = existed, -1 = missing and not created.
local function ensure(keys, args)
  local key = keys[1]
  if redis.call('EXISTS', key) == 0 then
    if args[1] ~= '1' then return {-1, 0, 0} end
    redis.call('TS.CREATE', key, unpack(args, 2))
    local retention = -1
    for i = 2, #args - 1 do
      if args[i] == 'RETENTION' then retention = tonumber(args[i + 1]) end
    end
    return {1, retention, 0}
  end
  local info = redis.call('TS.INFO', key)
  local last = 0
  if info_field(info, 'totalSamples') > 0 then last = info_field(info, 'lastTimestamp') end
  return {0, info_field(info, 'retentionTime'), last}
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

redis.register_function('tsapi_ensure', ensure)
redis.register_function('tsapi_set_point', set_point)
