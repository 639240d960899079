//! Diesel table definitions, written by hand to match `migrations/`.
//!
//! Generated columns (`spans.search_vector`) are left out on purpose: diesel
//! must never try to write them, and full-text search uses SQL fragments.

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        slug -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    projects (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        slug -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    project_settings (project_id) {
        project_id -> Uuid,
        intervention_default_action -> Text,
        trace_retention_days -> Int4,
        pii_redaction_enabled -> Bool,
        pii_redaction_patterns -> Jsonb,
        pii_redaction_strategy -> Jsonb,
        pii_redaction_key_actions -> Jsonb,
        pii_attribute_allowlist -> Jsonb,
        content_capture_enabled -> Bool,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        is_active -> Bool,
        force_password_change -> Bool,
        failed_login_attempts -> Int4,
        locked_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
        totp_secret -> Nullable<Text>,
        mfa_enabled -> Bool,
        backup_codes -> Array<Text>,
        totp_last_step -> Nullable<Int8>,
    }
}

diesel::table! {
    project_members (project_id, user_id) {
        project_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        kind -> Text,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        key_hash -> Text,
        key_prefix -> Text,
        scopes -> Array<Text>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        deprecated_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
        rotated_from_id -> Nullable<Uuid>,
        allowed_ips -> Nullable<Array<Text>>,
    }
}

diesel::table! {
    traces (project_id, id) {
        project_id -> Uuid,
        id -> Bytea,
        start_time_unix_nano -> Int8,
        end_time_unix_nano -> Nullable<Int8>,
        agent_name -> Nullable<Text>,
        workflow_name -> Nullable<Text>,
        total_cost_usd -> Nullable<Numeric>,
        total_input_tokens -> Int8,
        total_output_tokens -> Int8,
        span_count -> Int4,
        intervention_state -> Text,
        created_at -> Timestamptz,
        git_commit_sha -> Nullable<Text>,
    }
}

diesel::table! {
    spans (project_id, start_time_unix_nano, trace_id, span_id) {
        project_id -> Uuid,
        start_time_unix_nano -> Int8,
        trace_id -> Bytea,
        span_id -> Bytea,
        parent_span_id -> Nullable<Bytea>,
        name -> Text,
        kind -> Text,
        end_time_unix_nano -> Nullable<Int8>,
        status_code -> Nullable<Text>,
        status_message -> Nullable<Text>,
        operation_name -> Nullable<Text>,
        provider_name -> Nullable<Text>,
        request_model -> Nullable<Text>,
        response_model -> Nullable<Text>,
        agent_name -> Nullable<Text>,
        agent_id -> Nullable<Text>,
        tool_name -> Nullable<Text>,
        workflow_name -> Nullable<Text>,
        conversation_id -> Nullable<Text>,
        input_tokens -> Nullable<Int8>,
        output_tokens -> Nullable<Int8>,
        cost_usd -> Nullable<Numeric>,
        intervention_state -> Nullable<Text>,
        attributes -> Jsonb,
    }
}

diesel::joinable!(projects -> organizations (org_id));
diesel::joinable!(project_settings -> projects (project_id));
diesel::joinable!(api_keys -> projects (project_id));
diesel::joinable!(sessions -> users (user_id));
diesel::table! {
    pending_invitations (id) {
        id -> Uuid,
        email -> Text,
        project_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ownership_transfers (id) {
        id -> Uuid,
        project_id -> Uuid,
        from_user_id -> Uuid,
        to_user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(ownership_transfers -> projects (project_id));
diesel::joinable!(project_members -> projects (project_id));
diesel::joinable!(project_members -> users (user_id));

diesel::table! {
    model_price_overrides (id) {
        id -> Uuid,
        project_id -> Uuid,
        model_name -> Text,
        input_cost_per_token -> Numeric,
        output_cost_per_token -> Numeric,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(model_price_overrides -> projects (project_id));

diesel::table! {
    policies (id) {
        id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        match_expression -> Text,
        action -> Text,
        action_config -> Jsonb,
        applies_to -> Array<Text>,
        enabled -> Bool,
        priority -> Int4,
        shadow -> Bool,
        match_count -> Int8,
        last_matched_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    policy_versions (id) {
        id -> Int8,
        policy_id -> Uuid,
        project_id -> Uuid,
        version -> Int4,
        name -> Text,
        description -> Nullable<Text>,
        match_expression -> Text,
        action -> Text,
        action_config -> Jsonb,
        applies_to -> Array<Text>,
        enabled -> Bool,
        priority -> Int4,
        change_type -> Text,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    halts (id) {
        id -> Int8,
        project_id -> Uuid,
        scope -> Text,
        scope_value -> Nullable<Text>,
        state -> Text,
        reason -> Text,
        actor -> Text,
        budget_id -> Nullable<Uuid>,
        metadata -> Jsonb,
        set_at -> Timestamptz,
        cleared_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(policies -> projects (project_id));
diesel::joinable!(policy_versions -> policies (policy_id));

diesel::table! {
    budgets (id) {
        id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        scope -> Text,
        scope_value -> Nullable<Text>,
        max_spend_usd -> Nullable<Numeric>,
        spent_usd -> Numeric,
        soft_limit_ratio -> Nullable<Numeric>,
        max_repeated_calls -> Nullable<Int4>,
        loop_window_seconds -> Nullable<Numeric>,
        budget_duration -> Nullable<Text>,
        window_type -> Text,
        budget_reset_at -> Nullable<Timestamptz>,
        last_evaluated_at -> Nullable<Timestamptz>,
        current_count -> Int4,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    policy_matches (id) {
        id -> Int8,
        policy_id -> Uuid,
        project_id -> Uuid,
        trace_id -> Bytea,
        span_id -> Bytea,
        action -> Text,
        action_outcome -> Text,
        matched_at -> Timestamptz,
        metadata -> Jsonb,
    }
}

diesel::table! {
    notification_channels (id) {
        id -> Uuid,
        project_id -> Uuid,
        channel_type -> Text,
        name -> Text,
        config -> Jsonb,
        events -> Array<Text>,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(policy_matches -> policies (policy_id));
diesel::joinable!(budgets -> projects (project_id));
diesel::joinable!(halts -> projects (project_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    projects,
    project_settings,
    users,
    project_members,
    pending_invitations,
    ownership_transfers,
    sessions,
    api_keys,
    traces,
    spans,
    model_price_overrides,
    policies,
    policy_versions,
    halts,
    budgets,
    approvals,
    policy_matches,
    notification_channels,
);

diesel::table! {
    approvals (id) {
        id -> Uuid,
        project_id -> Uuid,
        policy_id -> Uuid,
        trace_id -> Nullable<Bytea>,
        span_id -> Nullable<Bytea>,
        span_name -> Nullable<Text>,
        agent_name -> Nullable<Text>,
        tool_name -> Nullable<Text>,
        tool_args -> Nullable<Text>,
        policy_name -> Nullable<Text>,
        status -> Text,
        requested_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
        resolved_by -> Nullable<Text>,
        timeout_seconds -> Int4,
        expires_at -> Timestamptz,
        approvers_required -> Int4,
        current_approvals -> Int4,
        approval_decisions -> Jsonb,
        consumed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit.events (occurred_at, id) {
        id -> Uuid,
        sequence_no -> Int8,
        occurred_at -> Timestamptz,
        ingested_at -> Timestamptz,
        project_id -> Uuid,
        actor_type -> Text,
        actor_id -> Text,
        actor_display -> Nullable<Text>,
        on_behalf_of -> Nullable<Text>,
        action -> Text,
        action_category -> Text,
        outcome -> Text,
        reason -> Nullable<Text>,
        resource_type -> Text,
        resource_id -> Text,
        resource_parent -> Nullable<Text>,
        cascade_root_id -> Nullable<Uuid>,
        request_id -> Uuid,
        source_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        api_key_id -> Nullable<Text>,
        auth_method -> Nullable<Text>,
        before_state -> Nullable<Jsonb>,
        after_state -> Nullable<Jsonb>,
        diff -> Nullable<Jsonb>,
        pii_classes -> Array<Text>,
        schema_version -> Int2,
        prev_hash -> Bytea,
        row_hash -> Bytea,
        hmac_key_id -> Int2,
    }
}

diesel::table! {
    audit.anchors (anchor_at) {
        anchor_at -> Timestamptz,
        last_sequence -> Int8,
        last_row_hash -> Bytea,
        merkle_root -> Bytea,
        event_count -> Int4,
        first_sequence -> Int8,
    }
}

diesel::table! {
    webhook_signing_keys (id) {
        id -> Uuid,
        project_id -> Uuid,
        prefix -> Text,
        secret_hash -> Bytea,
        secret_sealed -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        project_id -> Uuid,
        event -> Text,
        policy_id -> Nullable<Uuid>,
        channel_id -> Nullable<Uuid>,
        webhook_id -> Text,
        url -> Text,
        payload -> Jsonb,
        format -> Text,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_attempt_at -> Nullable<Timestamptz>,
        last_response_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        stream_id -> Nullable<Uuid>,
        stream_seq -> Nullable<Int8>,
    }
}

diesel::table! {
    password_reset_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

// Audit streams, integrations, circuit breakers, the MCP gateway and the
// detectors (issue 12).

diesel::table! {
    audit.streams (id) {
        id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        url -> Text,
        signing_key_id -> Nullable<Uuid>,
        enabled -> Bool,
        paused_at -> Nullable<Timestamptz>,
        pause_reason -> Nullable<Text>,
        categories -> Nullable<Array<Text>>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    github_integrations (id) {
        id -> Uuid,
        project_id -> Uuid,
        repo_full_name -> Text,
        installation_id -> Nullable<Int8>,
        webhook_secret_sealed -> Text,
        created_by_user_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        last_event_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    git_commits (id) {
        id -> Uuid,
        project_id -> Uuid,
        integration_id -> Nullable<Uuid>,
        commit_sha -> Text,
        repo_full_name -> Text,
        commit_message -> Nullable<Text>,
        author_name -> Nullable<Text>,
        author_email -> Nullable<Text>,
        committed_at -> Nullable<Timestamptz>,
        branch -> Nullable<Text>,
        pr_number -> Nullable<Int4>,
        url -> Nullable<Text>,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    slack_action_receipts (signature) {
        signature -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    circuit_breakers (project_id, entity_type, entity_id) {
        project_id -> Uuid,
        entity_type -> Text,
        entity_id -> Text,
        state -> Text,
        failures -> Array<Timestamptz>,
        opened_at -> Nullable<Timestamptz>,
        half_open_successes -> Int4,
        total_trips -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    gateway_throttle_buckets (policy_id, scope_key) {
        policy_id -> Uuid,
        scope_key -> Text,
        tokens -> Float8,
        refilled_at -> Timestamptz,
    }
}

diesel::table! {
    drift_baselines (project_id, agent_name, metric) {
        project_id -> Uuid,
        agent_name -> Text,
        metric -> Text,
        observations -> Int4,
        mean -> Float8,
        variance -> Float8,
        cusum_high -> Float8,
        cusum_low -> Float8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    detector_cursors (detector) {
        detector -> Text,
        observed_until -> Int8,
    }
}

diesel::table! {
    incidents (id) {
        id -> Uuid,
        project_id -> Uuid,
        trigger -> Text,
        agent_name -> Text,
        severity -> Text,
        count -> Int8,
        details -> Jsonb,
        detected_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
    }
}
