-- (lib_dropped.lua comes first.) Count ARGV[2] groups kept out for reason ARGV[1].
dropped(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]))
return 1
