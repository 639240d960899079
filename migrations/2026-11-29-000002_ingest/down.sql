DROP TABLE IF EXISTS model_price_overrides;
