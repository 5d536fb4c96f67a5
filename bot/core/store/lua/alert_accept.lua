-- Accept a batch (lib_accept.lua): refused (-1) while the stream holds `max_bytes`
-- unapplied; at most once per key (a Slack event id: 0 when used), the marker and the
-- entry together.
return accept(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), ARGV[3])
