#!lua name=tsapi_rollups
-- Rollup tiers (tsdb/rollups): tier buckets recomputed from raw samples, or from a finer tier
-- that keeps them, in the same atomic call as the bookkeeping of how far each tier is filled.
--
-- KEYS: the raw series, its tier state (a hash), then the 7 parts of each tier, tier by tier in
-- the order of the state's 'tiers' field (ascending buckets), parts in the order of PARTS.
-- State fields: tiers ('60000,3600000'), r:<b> (retention), lo:<b> (the tier claims nothing
-- before it), hi:<b> (buckets before it are filled; -1 = nothing yet), pending ('1' while a
-- backfill job fills the tiers: writers leave the filling to it), raw_retention (the raw
-- series' retention, kept here by tsapi: TS.INFO walks every chunk of a big series), and
-- marks m:<writer> = 'x,y': raw times (inclusive) where that writer stored or changed samples
-- that the finest tier had not filled yet (m:tail: samples of unknown writers after the last
-- forward fill); a mark goes once the finest tier is filled past it.
-- Every tier keeps exactly the buckets [max(lo, retention edge), hi) of its parts; the
-- retention edge is ceil((hi - b - r) / b) * b, which the tier's own retention never passes.
-- Timestamps are Lua numbers: exact below 2^53 ms (year 287396), the limit of tiers.

local PARTS = {'sum', 'count', 'min', 'max', 'first', 'last', 'var.p'}
-- part p of a coarse bucket from part p of the finer buckets in it (var.p: see from_finer)
local MERGE = {'sum', 'sum', 'min', 'max', 'first', 'last'}
local NPARTS = 7
local MAX_TS = 9007199254740992
local MADD_CHUNK = 2000
-- a coarse bucket's var.p from the raw samples (one pass in C) rather than from the finer
-- buckets' rows (read and merged here, ~3 us each) while raw samples are at most this many
-- per finer bucket
local RAW_VAR = 200

local function floor_to(t, b) return t - (t % b) end

local function ceil_to(t, b)
  local f = floor_to(t, b)
  if f < t then return f + b end
  return f
end

local function fmt(t) return string.format('%.0f', t) end

-- A sample's value: the module answers Lua with a status reply ({ok = '20.086'}) in the
-- shortest form that reads back exactly (a RESP3 caller may see {double = 20.086}).
local function val(v)
  if type(v) == 'table' then return v.double or tonumber(v.ok) end
  return tonumber(v)
end

-- The state and its tiers; nil when the series has no tiers, false when ARGV's tier list is
-- not the state's (the caller read an older configuration).
local function load_state(state_key, tiers_arg)
  local flat = redis.call('HGETALL', state_key)
  if #flat == 0 then return nil end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  if h['tiers'] ~= tiers_arg then return false end
  local tiers = {}
  for b in string.gmatch(h['tiers'], '[^,]+') do
    tiers[#tiers + 1] = {
      b = tonumber(b), name = b, ret = tonumber(h['r:' .. b] or '0'),
      lo = tonumber(h['lo:' .. b] or '0'), hi = tonumber(h['hi:' .. b] or '-1'),
    }
  end
  return h, tiers
end

-- The state and tiers for a call that fills them; else nil, nil and what the call returns:
-- -1 (no tiers), -2 (the tier list changed) or 2 (a backfill is pending: it fills).
local function fillable_state(keys, tiers_arg)
  local h, tiers = load_state(keys[2], tiers_arg)
  if h == nil then return nil, nil, -1 end
  if h == false then return nil, nil, -2 end
  if h['pending'] then return nil, nil, 2 end
  return h, tiers
end

local function part_key(keys, i, p) return keys[2 + (i - 1) * NPARTS + p] end

-- Where the tier's kept buckets start (nil: it keeps none).
local function kept_from(t)
  if t.hi < 0 then return nil end
  local from = t.lo
  if t.ret > 0 then
    local edge = ceil_to(math.max(0, t.hi - t.b - t.ret), t.b)
    if edge > from then from = edge end
  end
  return from
end

-- A tier that has filled nothing yet starts at the bucket of the first raw sample it claims.
local function start_tier(keys, t)
  if t.hi >= 0 then return end
  local first = redis.call('TS.RANGE', keys[1], fmt(t.lo), '+', 'COUNT', 1)
  if #first > 0 then
    t.hi = math.max(t.lo, floor_to(math.min(first[1][1], MAX_TS), t.b))
    redis.call('HSET', keys[2], 'hi:' .. t.name, fmt(t.hi))
  end
end

local function mark_range(v)
  local x, y = string.match(v, '^(-?%d+),(-?%d+)$')
  return tonumber(x), tonumber(y)
end

-- Note that writer ('m:' .. id) stored or changed raw samples in [x, y] (merged with what it
-- noted before). Past MAX_MARKS marks (many small writes into a bucket still open), the
-- others merge into one, m:many, which no writer owns: it only makes more of the writers'
-- buckets come from raw samples.
local MAX_MARKS = 16
local function note_mark(keys, h, field, x, y)
  if h[field] then
    local x0, y0 = mark_range(h[field])
    x, y = math.min(x, x0), math.max(y, y0)
  end
  h[field] = fmt(x) .. ',' .. fmt(y)
  redis.call('HSET', keys[2], field, h[field])
  local others = {}
  for f, _ in pairs(h) do
    if f ~= field and string.sub(f, 1, 2) == 'm:' then others[#others + 1] = f end
  end
  if #others <= MAX_MARKS then return end
  local lo, hi = MAX_TS, -1
  for _, f in ipairs(others) do
    local a, z = mark_range(h[f])
    lo, hi = math.min(lo, a), math.max(hi, z)
    redis.call('HDEL', keys[2], f)
    h[f] = nil
  end
  h['m:many'] = fmt(lo) .. ',' .. fmt(hi)
  redis.call('HSET', keys[2], 'm:many', h['m:many'])
end

-- Drop the marks the finest tier is filled past (hi: its hi).
local function prune_marks(keys, h, hi)
  for field, v in pairs(h) do
    if string.sub(field, 1, 2) == 'm:' then
      local _, y = mark_range(v)
      if y < hi then
        redis.call('HDEL', keys[2], field)
        h[field] = nil
      end
    end
  end
end

-- A value as TS.MADD takes it: the module's own text when there is one (shortest form that
-- reads back exactly), else the number with 17 significant digits.
local function text(v)
  if type(v) == 'table' then
    if v.ok then return v.ok end
    v = v.double
  end
  if type(v) == 'number' then return string.format('%.17g', v) end
  return v
end

-- Timestamps go as Lua numbers: Redis writes integers below 2^53 out exactly.
local function madd(key, rows)
  local args, n = {}, 0
  for i = 1, #rows do
    local row = rows[i]
    args[n + 1], args[n + 2], args[n + 3] = key, row[1], text(row[2])
    n = n + 3
    if n >= MADD_CHUNK * 3 then
      redis.pcall('TS.MADD', unpack(args, 1, n))
      n = 0
    end
  end
  if n > 0 then redis.pcall('TS.MADD', unpack(args, 1, n)) end
end

-- Replace buckets [s, e) of a part with rows (fresh: nothing there yet, no delete needed).
local function replace(key, s, e, rows, fresh)
  if not fresh then redis.pcall('TS.DEL', key, fmt(s), fmt(e - 1)) end
  madd(key, rows)
end

-- Buckets [s, e) of tier i from the raw samples.
local function from_raw(keys, i, b, s, e, fresh)
  for p = 1, NPARTS do
    local rows = redis.call('TS.RANGE', keys[1], fmt(s), fmt(e - 1), 'AGGREGATION', PARTS[p], fmt(b))
    replace(part_key(keys, i, p), s, e, rows, fresh)
  end
end

local function by_time(rows)
  local map = {}
  for i = 1, #rows do map[rows[i][1]] = val(rows[i][2]) end
  return map
end

-- Buckets [s, e) of tier i from the buckets of the finer tier j (whose bucket divides b).
-- var.p composes by the parallel formula: n * var = sum over the finer buckets of
-- n_k * var_k + n_k * (mean_k - mean)^2; or, where raw samples are few per finer bucket and
-- all still there (from raw_whole on), it is computed from them.
local function from_finer(keys, i, j, fb, b, s, e, fresh, raw_whole)
  local raw_count = 0
  for p = 1, 6 do
    local rows = redis.call(
      'TS.RANGE', part_key(keys, j, p), fmt(s), fmt(e - 1), 'AGGREGATION', MERGE[p], fmt(b))
    replace(part_key(keys, i, p), s, e, rows, fresh)
    if p == 2 then
      for q = 1, #rows do raw_count = raw_count + val(rows[q][2]) end
    end
  end
  if s >= raw_whole and raw_count <= RAW_VAR * (e - s) / fb then
    local rows = redis.call('TS.RANGE', keys[1], fmt(s), fmt(e - 1), 'AGGREGATION', 'var.p', fmt(b))
    replace(part_key(keys, i, 7), s, e, rows, fresh)
    return
  end
  local counts = redis.call('TS.RANGE', part_key(keys, j, 2), fmt(s), fmt(e - 1))
  local sums = by_time(redis.call('TS.RANGE', part_key(keys, j, 1), fmt(s), fmt(e - 1)))
  local vars = by_time(redis.call('TS.RANGE', part_key(keys, j, 7), fmt(s), fmt(e - 1)))
  local out = {}
  local k = 1
  while k <= #counts do
    local start = floor_to(counts[k][1], b)
    local m = k
    local n, total = 0, 0
    while m <= #counts and floor_to(counts[m][1], b) == start do
      n = n + val(counts[m][2])
      total = total + (sums[counts[m][1]] or 0)
      m = m + 1
    end
    local mean = total / n
    local m2 = 0
    for q = k, m - 1 do
      local t = counts[q][1]
      local nq = val(counts[q][2])
      local d = (sums[t] or 0) / nq - mean
      m2 = m2 + nq * (vars[t] or 0) + nq * d * d
    end
    out[#out + 1] = {start, m2 / n}
    k = m
  end
  replace(part_key(keys, i, 7), s, e, out, fresh)
end

-- Recompute buckets [s, e) of tier i: from the coarsest finer tier that keeps them (tiers
-- j and finer are tried), else from raw samples; raw buckets starting before raw_from are
-- left as they are. raw_whole: raw samples from there on are all still there (the raw
-- series' retention edge). fresh: the buckets hold nothing yet.
local function fill(keys, tiers, i, s, e, j, raw_from, raw_whole, fresh)
  if s >= e then return end
  local t = tiers[i]
  while j >= 1 do
    local f = tiers[j]
    local from = kept_from(f)
    if from and t.b % f.b == 0 then
      local c_lo = math.max(s, ceil_to(from, t.b))
      local c_hi = math.min(e, floor_to(f.hi, t.b))
      if c_lo < c_hi then
        fill(keys, tiers, i, s, c_lo, j - 1, raw_from, raw_whole, fresh)
        from_finer(keys, i, j, f.b, t.b, c_lo, c_hi, fresh, raw_whole)
        fill(keys, tiers, i, c_hi, e, j - 1, raw_from, raw_whole, fresh)
        return
      end
    end
    j = j - 1
  end
  s = math.max(s, ceil_to(raw_from, t.b))
  if s < e then from_raw(keys, i, t.b, s, e, fresh) end
end

-- Fill the tiers forward: each by at most ARGV[2] ms (at least one bucket), up to the bucket
-- holding the newest raw sample (still open). ARGV: tiers, span, force ('1': even while a
-- backfill is pending), finish ('1': clear 'pending' once every tier has caught up), and
-- optionally until (fill no bucket ending after it: a writer's samples still on their way).
-- Returns {1 if every tier has caught up else 0, hi of each tier...}; {-1}: no tiers;
-- {-2}: the tier list changed.
local function advance(keys, args)
  local h, tiers = load_state(keys[2], args[1])
  if h == nil then return {-1} end
  if h == false then return {-2} end
  if h['pending'] and args[3] ~= '1' then return {1} end
  local span = tonumber(args[2])
  local newest = redis.call('TS.GET', keys[1])
  local upto = args[5] and tonumber(args[5])
  local raw_whole = 1 / 0  -- without a newest sample, nothing of raw counts as complete
  if #newest > 0 then
    local retention = tonumber(h['raw_retention'] or '0')
    raw_whole = retention > 0 and math.max(0, newest[1] - retention) or 0
  end
  local out = {1}
  for i = 1, #tiers do
    local t = tiers[i]
    if #newest > 0 then start_tier(keys, t) end
    if #newest > 0 and t.hi >= 0 then
      local edge = floor_to(math.min(newest[1], MAX_TS), t.b)
      local target = math.min(edge, t.hi + math.max(t.b, floor_to(span, t.b)))
      if upto then target = math.min(target, floor_to(upto, t.b)) end
      if target > t.hi then
        fill(keys, tiers, i, t.hi, target, i - 1, 0, raw_whole, true)
        t.hi = target
        redis.call('HSET', keys[2], 'hi:' .. t.name, fmt(t.hi))
      end
      if t.hi < edge and not (upto and t.hi >= floor_to(upto, t.b)) then out[1] = 0 end
    end
    out[#out + 1] = fmt(t.hi)
  end
  if out[1] == 1 and args[4] == '1' then redis.call('HDEL', keys[2], 'pending') end
  local hi = tiers[1].hi
  if hi >= 0 then
    prune_marks(keys, h, hi)
    -- the samples after the filled buckets may be anybody's: a writer's own buckets must not
    -- be trusted over them (see check)
    if #newest > 0 and newest[1] >= hi then
      h['m:tail'] = nil
      note_mark(keys, h, 'm:tail', hi, newest[1])
    end
  end
  return out
end

-- Recompute the filled buckets that raw changes touched, and mark where they touched buckets
-- not filled yet: the work of touch, on a loaded state and the raw series' newest sample
-- (TS.GET), for the pairs of raw times a z in args from index k0 on (inclusive; sorted by
-- a), changed by writer. Returns the number of tier buckets recomputed.
local function retouch(keys, h, tiers, newest, writer, args, k0)
  local raw_from = 0
  local retention = tonumber(h['raw_retention'] or '0')
  if retention > 0 and #newest > 0 then raw_from = math.max(0, newest[1] - retention) end
  if #args >= k0 + 1 and #newest > 0 then
    -- past the finest tier's filled buckets (and up to the newest sample: nothing is
    -- changed after it), the change is marked for the writers that put buckets (see check)
    local x, y = tonumber(args[k0]), -1
    for k = k0 + 1, #args, 2 do y = math.max(y, tonumber(args[k])) end
    y = math.min(y, newest[1])
    x = math.max(x, tiers[1].hi)
    if x <= y then note_mark(keys, h, 'm:' .. writer, x, y) end
  end
  -- every touch changes the state: a writer's buckets WATCHed since its check (see check)
  -- must not land over a change they do not include
  redis.call('HINCRBY', keys[2], 'touches', 1)
  local count = 0
  for i = 1, #tiers do
    local t = tiers[i]
    local from = kept_from(t)
    if from then
      local ranges = {}
      for k = k0, #args - 1, 2 do
        local a = math.max(floor_to(math.min(tonumber(args[k]), MAX_TS), t.b), from)
        local z = math.min(floor_to(math.min(tonumber(args[k + 1]), MAX_TS), t.b) + t.b, t.hi)
        if a < z then
          local last = ranges[#ranges]
          if last and a <= last[2] then
            if z > last[2] then last[2] = z end
          else
            ranges[#ranges + 1] = {a, z}
          end
        end
      end
      for _, r in ipairs(ranges) do
        fill(keys, tiers, i, r[1], r[2], i - 1, raw_from, raw_from, false)
        count = count + (r[2] - r[1]) / t.b
      end
    end
  end
  return count
end

-- Recompute the filled buckets that raw changes touched, and mark where they touched buckets
-- not filled yet (see retouch). ARGV: tiers, the writer's id, then pairs of raw times a z
-- (inclusive; sorted by a) that writes or deletes changed. Returns the number of tier
-- buckets recomputed; -1: no tiers; -2: the tier list changed.
local function touch(keys, args)
  local h, tiers = load_state(keys[2], args[1])
  if h == nil then return -1 end
  if h == false then return -2 end
  return retouch(keys, h, tiers, redis.call('TS.GET', keys[1]), args[2], args, 3)
end

-- A writer that computed buckets [s, e) of the finest tier from the samples it wrote there
-- asks here where they may go: from a on (the finest tier's hi, or s, or past the end of
-- other writers' marks, whichever is last), and how many raw samples lie there (they must be
-- as many as its buckets from a on count: else raw samples answer). Writes nothing: the
-- writer WATCHes the state before, and puts its buckets with commit in one MULTI, so that
-- nothing decided here can change before they land (every fill, mark and touch changes the
-- state). ARGV: tiers, the writer's id, s, e. Returns {1, a, raw samples in [a, e)}; {0}:
-- raw samples answer; {2}: a backfill is pending (it fills); {-1}: no tiers; {-2}: the tier
-- list changed.
local function check(keys, args)
  local h, tiers, code = fillable_state(keys, args[1])
  if not h then return {code} end
  local own = 'm:' .. args[2]
  local s, e = tonumber(args[3]), tonumber(args[4])
  local t = tiers[1]
  local a = t.hi
  if a < 0 then
    local first = redis.call('TS.RANGE', keys[1], fmt(t.lo), '+', 'COUNT', 1)
    if #first == 0 then return {0} end
    a = math.max(t.lo, floor_to(math.min(first[1][1], MAX_TS), t.b))
  end
  a = math.max(a, s)
  for field, v in pairs(h) do
    if field ~= own and string.sub(field, 1, 2) == 'm:' then
      local x, y = mark_range(v)
      if x < e and y >= a then a = math.max(a, floor_to(y, t.b) + t.b) end
    end
  end
  if a >= e then return {0} end
  local stored = 0
  local rows = redis.call('TS.RANGE', keys[1], fmt(a), fmt(e - 1), 'AGGREGATION', 'count', fmt(e - a))
  for k = 1, #rows do stored = stored + val(rows[k][2]) end
  return {1, fmt(a), fmt(stored)}
end

-- The finest tier now holds its buckets [a, e) (a writer put them, after check): fill the
-- buckets from its hi up to a from raw samples, move its hi to e, and fill the coarser
-- tiers forward from the finer ones up to there. With a = e, raw samples answer for all of
-- it (a writer whose buckets check refused). ARGV: tiers, a, e, and optionally the writer's
-- id and pairs of raw times it stored since its last step, to touch first (see retouch).
-- Returns {0, hi of each tier...}; {-1}: no tiers; {-2}: the tier list changed; {2}: a
-- backfill is pending.
local function commit(keys, args)
  local h, tiers, code = fillable_state(keys, args[1])
  if not h then return {code} end
  local newest = redis.call('TS.GET', keys[1])
  if #args >= 4 then retouch(keys, h, tiers, newest, args[4], args, 5) end
  if #newest == 0 then return {2} end
  local retention = tonumber(h['raw_retention'] or '0')
  local raw_whole = retention > 0 and math.max(0, newest[1] - retention) or 0
  local a, e = tonumber(args[2]), tonumber(args[3])
  local t = tiers[1]
  start_tier(keys, t)
  if t.hi >= 0 and t.hi < e then
    if t.hi < a then fill(keys, tiers, 1, t.hi, a, 0, 0, raw_whole, true) end
    t.hi = e
    redis.call('HSET', keys[2], 'hi:' .. t.name, fmt(t.hi))
    prune_marks(keys, h, t.hi)
  end
  local out = {0}
  for i = 1, #tiers do
    local c = tiers[i]
    if i > 1 then
      start_tier(keys, c)
      local target = floor_to(t.hi, c.b)
      if c.hi >= 0 and target > c.hi then
        fill(keys, tiers, i, c.hi, target, i - 1, 0, raw_whole, true)
        c.hi = target
        redis.call('HSET', keys[2], 'hi:' .. c.name, fmt(c.hi))
      end
    end
    out[#out + 1] = fmt(c.hi)
  end
  return out
end

redis.register_function('tsapi_rollup_advance', advance)
redis.register_function('tsapi_rollup_touch', touch)
redis.register_function{function_name = 'tsapi_rollup_check', callback = check, flags = {'no-writes'}}
redis.register_function('tsapi_rollup_commit', commit)
