-- Hourly rollups of spans, kept by the ingest writer in the same transaction
-- as the spans themselves, so overviews, agent lists and the topology read a
-- few thousand rows instead of scanning millions of spans. Each span counts
-- once, as it was first stored (a re-sent copy that merges into it does not
-- count again). Dimensions use '' for "none" so they can form the key.
CREATE TABLE span_rollups (
    project_id          uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    hour                bigint NOT NULL,   -- start of the UTC hour, ns since the epoch
    agent_name          text NOT NULL,
    tool_name           text NOT NULL,
    model               text NOT NULL,     -- the responding model, else the requested one
    intervention_state  text NOT NULL,
    error               boolean NOT NULL,  -- status ERROR
    spans               bigint NOT NULL,
    cost_usd            numeric(30, 8) NOT NULL,
    input_tokens        bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    ended               bigint NOT NULL,   -- spans with an end time
    duration_ms         double precision NOT NULL,  -- summed over the ended ones
    first_start         bigint NOT NULL,
    last_start          bigint NOT NULL,
    PRIMARY KEY (project_id, hour, agent_name, tool_name, model, intervention_state, error)
);

INSERT INTO span_rollups
SELECT project_id, (start_time_unix_nano / 3600000000000) * 3600000000000,
       coalesce(agent_name, ''), coalesce(tool_name, ''), coalesce(response_model, request_model, ''),
       coalesce(intervention_state, ''), coalesce(status_code = 'ERROR', false),
       count(*), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
       count(end_time_unix_nano),
       coalesce(sum(greatest(end_time_unix_nano - start_time_unix_nano, 0) / 1e6::double precision), 0),
       min(start_time_unix_nano), max(start_time_unix_nano)
FROM spans
GROUP BY 1, 2, 3, 4, 5, 6, 7;
