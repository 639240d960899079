-- Per-project model prices (USD per token) that override the built-in
-- catalog when ingest computes span cost.
CREATE TABLE model_price_overrides (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id             uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    model_name             text NOT NULL,
    input_cost_per_token   numeric(16, 12) NOT NULL CHECK (input_cost_per_token >= 0),
    output_cost_per_token  numeric(16, 12) NOT NULL CHECK (output_cost_per_token >= 0),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_price_overrides_project_model_unique UNIQUE (project_id, model_name)
);
CREATE TRIGGER trg_model_price_overrides_updated_at BEFORE UPDATE ON model_price_overrides
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
