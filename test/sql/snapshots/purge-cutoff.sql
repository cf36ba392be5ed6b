select (clock_timestamp() - make_interval(secs => ?::float8))::text as "before"
-- $1: 86400
