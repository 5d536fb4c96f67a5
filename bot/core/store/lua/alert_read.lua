-- The consumer group ARGV[1]'s next ARGV[3] entries of stream KEYS[1] for consumer ARGV[2]
-- (ARGV[4]: '>' new ones, '0' the ones it read before without acknowledging them), as one
-- flat list, id and batch for each: a reply a third the size of XREADGROUP's nested one
-- to parse. An entry deleted meanwhile (it comes back without fields) is left out.
local got = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
  'STREAMS', KEYS[1], ARGV[4])
local out = {}
if not got then return out end
-- Redis answers a list of {stream, entries}; fakeredis (the unit tests) the pair itself
local entries = type(got[1]) == 'table' and got[1][2] or got[2]
for _, entry in ipairs(entries) do
  local fields = entry[2]
  if fields and #fields > 0 then
    for i = 1, #fields, 2 do
      if fields[i] == 'b' then
        out[#out + 1] = entry[1]
        out[#out + 1] = fields[i + 1]
      end
    end
  end
end
return out
