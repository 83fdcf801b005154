-- Hourly rollups of the event stream (arrivals and turnaround per site ×
-- subspecialty × modality × priority × patient class), for the overview,
-- SLA views and forecasting.
-- With TimescaleDB: study_events becomes a hypertable, study_hourly a continuous
-- aggregate, with compression and retention policies. Without it: a plain view
-- over the plain table with the same name and columns, so queries are identical.

DO $$
DECLARE
	has_timescale boolean;
BEGIN
	SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') INTO has_timescale;
	IF has_timescale AND current_setting('radflow.disable_timescale', true) IS DISTINCT FROM 'on' THEN
		BEGIN
			CREATE EXTENSION IF NOT EXISTS timescaledb;
		EXCEPTION WHEN OTHERS THEN
			-- Installed but not preloaded (shared_preload_libraries): run without it.
			RAISE NOTICE 'timescaledb is installed but cannot be loaded (%); using plain tables', SQLERRM;
			has_timescale := false;
		END;
	ELSE
		has_timescale := false;
	END IF;

	IF has_timescale THEN
		PERFORM create_hypertable('study_events', 'time', chunk_time_interval => interval '7 days',
			if_not_exists => true, migrate_data => true);
		EXECUTE $v$
			CREATE MATERIALIZED VIEW IF NOT EXISTS study_hourly
			WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
			SELECT time_bucket(interval '1 hour', time) AS bucket,
				site_id, subspecialty, modality, priority, patient_class,
				count(*) FILTER (WHERE kind = 'complete') AS arrivals,
				count(*) FILTER (WHERE kind = 'order_placed') AS orders,
				count(*) FILTER (WHERE kind = 'reported') AS reported,
				coalesce(sum((payload->>'tat_minutes')::double precision) FILTER (WHERE kind = 'reported'), 0) AS tat_sum_min
			FROM study_events
			GROUP BY 1, 2, 3, 4, 5, 6
			WITH NO DATA
		$v$;
		PERFORM add_continuous_aggregate_policy('study_hourly',
			start_offset => interval '30 days', end_offset => interval '1 hour',
			schedule_interval => interval '5 minutes', if_not_exists => true);
		EXECUTE 'ALTER TABLE study_events SET (timescaledb.compress, timescaledb.compress_segmentby = ''site_id'', timescaledb.compress_orderby = ''time DESC, id DESC'')';
		PERFORM add_compression_policy('study_events', interval '14 days', if_not_exists => true);
		PERFORM add_retention_policy('study_events', interval '730 days', if_not_exists => true);
	ELSE
		CREATE OR REPLACE VIEW study_hourly AS
		SELECT date_trunc('hour', time) AS bucket,
			site_id, subspecialty, modality, priority, patient_class,
			count(*) FILTER (WHERE kind = 'complete') AS arrivals,
			count(*) FILTER (WHERE kind = 'order_placed') AS orders,
			count(*) FILTER (WHERE kind = 'reported') AS reported,
			coalesce(sum((payload->>'tat_minutes')::double precision) FILTER (WHERE kind = 'reported'), 0) AS tat_sum_min
		FROM study_events
		GROUP BY 1, 2, 3, 4, 5, 6;
	END IF;
END $$;
