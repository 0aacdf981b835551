// Hand-written to match migrations/{sqlite,postgres}; both backends share these types.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Text,
        email -> Nullable<Text>,
        password_hash -> Text,
        roles -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_generation -> BigInt,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_clients (id) {
        id -> BigInt,
        client_id -> Text,
        name -> Text,
        secret_hash -> Text,
        roles -> Text,
        active -> Bool,
        created_by -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        token_generation -> BigInt,
    }
}

diesel::table! {
    auth_generation (id) {
        id -> Integer,
        value -> BigInt,
    }
}

diesel::table! {
    number_series (code) {
        code -> Text,
        pattern -> Text,
        next_value -> BigInt,
        gap_free -> Bool,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        entity -> Text,
        entity_id -> BigInt,
        action -> Text,
        actor -> Text,
        actor_name -> Text,
        request_id -> Nullable<Text>,
        at -> Timestamp,
        changes -> Text,
        journal_stage -> Nullable<Text>,
        journal_kind -> Nullable<Text>,
        journal_text -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> BigInt,
        principal -> Text,
        idem_key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        location -> Nullable<Text>,
        etag -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    customers (id) {
        id -> BigInt,
        number -> Text,
        name -> Text,
        legal_name -> Nullable<Text>,
        tax_id -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        billing_address -> Nullable<Text>,
        shipping_address -> Nullable<Text>,
        currency -> Text,
        payment_terms_days -> Integer,
        credit_limit -> Nullable<BigInt>,
        parent_id -> Nullable<BigInt>,
        owner_id -> Nullable<BigInt>,
        status -> Text,
        tags -> Text,
        attributes -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        price_list_id -> Nullable<BigInt>,
        tax_treatment -> Text,
        discount_percent -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        customer_group_id -> Nullable<BigInt>,
        sales_person_id -> Nullable<BigInt>,
        sales_partner_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        contact_frequency_days -> Nullable<Integer>,
        default_warehouse_id -> Nullable<BigInt>,
        invoicing_policy -> Text,
        obligo_limit -> Nullable<BigInt>,
        endpoint_id -> Nullable<Text>,
        endpoint_scheme -> Nullable<Text>,
        invoice_delivery -> Text,
        e_invoice -> Bool,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        customer_id -> BigInt,
        name -> Text,
        role -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        is_primary -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    item_groups (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        parent_id -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    items (id) {
        id -> BigInt,
        sku -> Text,
        name -> Text,
        description -> Nullable<Text>,
        item_group_id -> Nullable<BigInt>,
        base_unit -> Text,
        kind -> Text,
        standard_cost -> BigInt,
        weight -> Nullable<BigInt>,
        active -> Bool,
        barcode -> Nullable<Text>,
        attributes -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        tax_rate_id -> Nullable<BigInt>,
        bundle_pricing -> Text,
        has_structure -> Bool,
        allow_negative_stock -> Bool,
        over_delivery_tolerance -> BigInt,
    }
}

diesel::joinable!(contacts -> customers (customer_id));
diesel::joinable!(items -> item_groups (item_group_id));

diesel::table! {
    exchange_rates (id) {
        id -> BigInt,
        from_currency -> Text,
        to_currency -> Text,
        rate -> BigInt,
        valid_from -> Date,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tax_rates (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        percent -> BigInt,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    price_lists (id) {
        id -> BigInt,
        name -> Text,
        currency -> Text,
        prices_include_tax -> Bool,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        base_price_list_id -> Nullable<BigInt>,
        markup_percent -> Nullable<BigInt>,
        active -> Bool,
        is_default -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        base_supplier_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    imports (id) {
        id -> BigInt,
        kind -> Text,
        format -> Text,
        status -> Text,
        batch_size -> Nullable<BigInt>,
        rows_total -> BigInt,
        rows_done -> BigInt,
        rows_imported -> BigInt,
        rows_failed -> BigInt,
        errors -> Text,
        payload -> Text,
        principal -> Text,
        actor -> Text,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        family -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    suppliers (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    supplier_prices (id) {
        id -> BigInt,
        supplier_id -> BigInt,
        item_id -> BigInt,
        unit -> Text,
        currency -> Text,
        price -> BigInt,
        min_quantity -> BigInt,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    item_prices (id) {
        id -> BigInt,
        price_list_id -> BigInt,
        item_id -> BigInt,
        unit -> Text,
        price -> BigInt,
        min_quantity -> BigInt,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_prices (id) {
        id -> BigInt,
        customer_id -> BigInt,
        item_id -> BigInt,
        unit -> Text,
        currency -> Text,
        price -> BigInt,
        min_quantity -> BigInt,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_discounts (id) {
        id -> BigInt,
        customer_id -> Nullable<BigInt>,
        item_group_id -> BigInt,
        percent -> BigInt,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pricing_rules (id) {
        id -> BigInt,
        name -> Text,
        priority -> Integer,
        exclusive -> Bool,
        active -> Bool,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        currency -> Nullable<Text>,
        item_id -> Nullable<BigInt>,
        item_group_id -> Nullable<BigInt>,
        customer_id -> Nullable<BigInt>,
        customer_tag -> Nullable<Text>,
        campaign_code -> Nullable<Text>,
        territory -> Nullable<Text>,
        min_quantity -> Nullable<BigInt>,
        max_quantity -> Nullable<BigInt>,
        min_line_amount -> Nullable<BigInt>,
        max_line_amount -> Nullable<BigInt>,
        min_order_amount -> Nullable<BigInt>,
        max_order_amount -> Nullable<BigInt>,
        coupon_only -> Bool,
        action -> Text,
        percent -> Nullable<BigInt>,
        amount -> Nullable<BigInt>,
        free_item_id -> Nullable<BigInt>,
        buy_quantity -> Nullable<BigInt>,
        free_quantity -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    coupons (id) {
        id -> BigInt,
        code -> Text,
        pricing_rule_id -> BigInt,
        customer_id -> Nullable<BigInt>,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        max_uses -> Nullable<BigInt>,
        max_uses_per_customer -> Nullable<BigInt>,
        uses -> BigInt,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    coupon_redemptions (id) {
        id -> BigInt,
        coupon_id -> BigInt,
        customer_id -> BigInt,
        document -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    shipping_rules (id) {
        id -> BigInt,
        name -> Text,
        priority -> Integer,
        active -> Bool,
        countries -> Text,
        basis -> Text,
        range_min -> Nullable<BigInt>,
        range_max -> Nullable<BigInt>,
        charge -> Text,
        amount -> Nullable<BigInt>,
        percent -> Nullable<BigInt>,
        currency -> Text,
        free_above -> Nullable<BigInt>,
        tax_rate_id -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    units (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        decimals -> Integer,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    item_units (id) {
        id -> BigInt,
        item_id -> BigInt,
        unit -> Text,
        factor -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    item_components (id) {
        id -> BigInt,
        item_id -> BigInt,
        component_item_id -> BigInt,
        quantity -> BigInt,
        required -> Bool,
        price_override -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    item_option_groups (id) {
        id -> BigInt,
        item_id -> BigInt,
        name -> Text,
        required -> Bool,
        choices -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    attachments (id) {
        id -> BigInt,
        kind -> Text,
        filename -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        created_by -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        owner_type -> Text,
        owner_id -> BigInt,
        send_with_offers -> Bool,
    }
}

diesel::table! {
    territories (id) {
        id -> BigInt,
        name -> Text,
        parent_id -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_groups (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sales_persons (id) {
        id -> BigInt,
        name -> Text,
        user_id -> Nullable<BigInt>,
        manager_id -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sales_partners (id) {
        id -> BigInt,
        name -> Text,
        email -> Nullable<Text>,
        commission_rate -> BigInt,
        territory_id -> Nullable<BigInt>,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    campaigns (id) {
        id -> BigInt,
        name -> Text,
        code -> Text,
        start_date -> Nullable<Date>,
        end_date -> Nullable<Date>,
        budget -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    leads (id) {
        id -> BigInt,
        number -> Text,
        person_name -> Nullable<Text>,
        company_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        source -> Nullable<Text>,
        campaign_id -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        owner_id -> Nullable<BigInt>,
        status -> Text,
        disqualified_reason -> Nullable<Text>,
        notes -> Nullable<Text>,
        customer_id -> Nullable<BigInt>,
        converted_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pipeline_stages (id) {
        id -> BigInt,
        name -> Text,
        position -> Integer,
        probability -> BigInt,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    opportunities (id) {
        id -> BigInt,
        title -> Text,
        customer_id -> Nullable<BigInt>,
        lead_id -> Nullable<BigInt>,
        owner_id -> Nullable<BigInt>,
        stage_id -> BigInt,
        amount -> BigInt,
        currency -> Text,
        expected_close -> Nullable<Date>,
        probability -> Nullable<BigInt>,
        status -> Text,
        lost_reason -> Nullable<Text>,
        competitor -> Nullable<Text>,
        territory_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        stage_changed_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    opportunity_items (id) {
        id -> BigInt,
        opportunity_id -> BigInt,
        item_id -> BigInt,
        quantity -> BigInt,
        estimated_price -> Nullable<BigInt>,
    }
}

diesel::table! {
    opportunity_stage_changes (id) {
        id -> BigInt,
        opportunity_id -> BigInt,
        from_stage_id -> Nullable<BigInt>,
        to_stage_id -> BigInt,
        changed_at -> Timestamp,
        changed_by -> Text,
    }
}

diesel::table! {
    approval_routes (id) {
        id -> BigInt,
        name -> Text,
        order_type -> Text,
        active -> Bool,
        stages -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    checklist_templates (id) {
        id -> BigInt,
        name -> Text,
        order_type -> Text,
        points -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    quotations (id) {
        id -> BigInt,
        number -> Text,
        revision -> Integer,
        previous_id -> Nullable<BigInt>,
        customer_id -> BigInt,
        contact_id -> Nullable<BigInt>,
        currency -> Text,
        doc_date -> Date,
        valid_until -> Nullable<Date>,
        price_list_id -> Nullable<BigInt>,
        sales_person_id -> Nullable<BigInt>,
        sales_partner_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        opportunity_id -> Nullable<BigInt>,
        payment_terms_days -> Nullable<Integer>,
        coupon_code -> Nullable<Text>,
        terms -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        sales_order_id -> Nullable<BigInt>,
        blanket_order_id -> Nullable<BigInt>,
        net -> BigInt,
        gross -> BigInt,
        base_net -> BigInt,
        pricing -> Text,
        archived_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sales_orders (id) {
        id -> BigInt,
        number -> Text,
        order_type -> Text,
        customer_id -> BigInt,
        contact_id -> Nullable<BigInt>,
        customer_po -> Nullable<Text>,
        currency -> Text,
        doc_date -> Date,
        requested_date -> Nullable<Date>,
        payment_terms_days -> Nullable<Integer>,
        contract_number -> Nullable<Text>,
        price_list_id -> Nullable<BigInt>,
        sales_person_id -> Nullable<BigInt>,
        sales_partner_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        quotation_id -> Nullable<BigInt>,
        blanket_order_id -> Nullable<BigInt>,
        coupon_code -> Nullable<Text>,
        terms -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        approval -> Text,
        net -> BigInt,
        gross -> BigInt,
        base_net -> BigInt,
        pricing -> Text,
        archived_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        warehouse_id -> Nullable<BigInt>,
        shipping_invoiced -> Bool,
    }
}

diesel::table! {
    blanket_orders (id) {
        id -> BigInt,
        number -> Text,
        customer_id -> BigInt,
        kind -> Text,
        currency -> Text,
        valid_from -> Date,
        valid_to -> Date,
        value_ceiling -> Nullable<BigInt>,
        called_off_value -> BigInt,
        contract_number -> Nullable<Text>,
        quotation_id -> Nullable<BigInt>,
        sales_person_id -> Nullable<BigInt>,
        notes -> Nullable<Text>,
        status -> Text,
        status_reason -> Nullable<Text>,
        archived_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    document_lines (id) {
        id -> BigInt,
        doc_kind -> Text,
        doc_id -> BigInt,
        position -> Integer,
        item_id -> BigInt,
        description -> Nullable<Text>,
        quantity -> BigInt,
        unit -> Text,
        base_quantity -> BigInt,
        options -> Text,
        components -> Text,
        requested_date -> Nullable<Date>,
        unit_price -> BigInt,
        discount -> BigInt,
        net -> BigInt,
        tax -> BigInt,
        gross -> BigInt,
        tax_rate_id -> Nullable<BigInt>,
        tax_percent -> BigInt,
        manual_price -> Nullable<BigInt>,
        manual_discount_percent -> Nullable<BigInt>,
        override_reason -> Nullable<Text>,
        pricing -> Text,
        free_of_rule_id -> Nullable<BigInt>,
        planned_unit_cost -> Nullable<BigInt>,
        actual_cost -> Nullable<BigInt>,
        production_state -> Nullable<Text>,
        blanket_line_id -> Nullable<BigInt>,
        called_off_quantity -> BigInt,
        version -> BigInt,
        promised_date -> Nullable<Date>,
        promise_source -> Nullable<Text>,
        warehouse_id -> Nullable<BigInt>,
        billed_quantity -> BigInt,
        billed_net -> BigInt,
        billed_tax -> BigInt,
        source_line_id -> Nullable<BigInt>,
        delivery_line_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    blanket_schedule_lines (id) {
        id -> BigInt,
        blanket_order_id -> BigInt,
        line_id -> BigInt,
        due_date -> Date,
        quantity -> BigInt,
        version -> BigInt,
    }
}

diesel::table! {
    order_checklist_points (id) {
        id -> BigInt,
        sales_order_id -> BigInt,
        position -> Integer,
        text -> Text,
        required -> Bool,
        ticked -> Bool,
        ticked_by -> Nullable<Text>,
        ticked_at -> Nullable<Timestamp>,
        comment -> Nullable<Text>,
    }
}

diesel::table! {
    activities (id) {
        id -> BigInt,
        kind -> Text,
        subject -> Text,
        body -> Nullable<Text>,
        due_at -> Nullable<Timestamp>,
        start_at -> Nullable<Timestamp>,
        end_at -> Nullable<Timestamp>,
        assignee_id -> Nullable<BigInt>,
        customer_id -> Nullable<BigInt>,
        contact_id -> Nullable<BigInt>,
        lead_id -> Nullable<BigInt>,
        opportunity_id -> Nullable<BigInt>,
        quotation_id -> Nullable<BigInt>,
        sales_order_id -> Nullable<BigInt>,
        done -> Bool,
        done_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        created_by -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    warehouses (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        is_default -> Bool,
        quarantine -> Bool,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stock_balances (id) {
        id -> BigInt,
        item_id -> BigInt,
        warehouse_id -> BigInt,
        on_hand -> BigInt,
        reserved -> BigInt,
    }
}

diesel::table! {
    stock_ledger (id) {
        id -> BigInt,
        item_id -> BigInt,
        warehouse_id -> BigInt,
        kind -> Text,
        quantity -> BigInt,
        unit_cost -> Nullable<BigInt>,
        doc_kind -> Nullable<Text>,
        doc_id -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        actor -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    order_line_stock (id) {
        id -> BigInt,
        line_id -> BigInt,
        sales_order_id -> BigInt,
        item_id -> BigInt,
        warehouse_id -> BigInt,
        requested_date -> Date,
        ordered -> BigInt,
        reserved -> BigInt,
        backordered -> BigInt,
        delivered -> BigInt,
        returned -> BigInt,
        promised_date -> Nullable<Date>,
        version -> BigInt,
    }
}

diesel::table! {
    reservations (id) {
        id -> BigInt,
        item_id -> BigInt,
        warehouse_id -> BigInt,
        quantity -> BigInt,
        order_line_id -> Nullable<BigInt>,
        sales_order_id -> Nullable<BigInt>,
        customer_id -> Nullable<BigInt>,
        note -> Nullable<Text>,
        status -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        number -> Text,
        sales_order_id -> BigInt,
        customer_id -> BigInt,
        warehouse_id -> BigInt,
        status -> Text,
        carrier -> Nullable<Text>,
        tracking_number -> Nullable<Text>,
        packages -> Nullable<Integer>,
        weight -> Nullable<BigInt>,
        shipped_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    delivery_lines (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        order_line_id -> BigInt,
        item_id -> BigInt,
        quantity -> BigInt,
        unit_cost -> Nullable<BigInt>,
        invoiced_quantity -> BigInt,
    }
}

diesel::table! {
    returns (id) {
        id -> BigInt,
        number -> Text,
        delivery_id -> BigInt,
        sales_order_id -> BigInt,
        customer_id -> BigInt,
        status -> Text,
        reason -> Text,
        condition -> Text,
        warehouse_id -> Nullable<BigInt>,
        received_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    return_lines (id) {
        id -> BigInt,
        return_id -> BigInt,
        delivery_line_id -> BigInt,
        item_id -> BigInt,
        quantity -> BigInt,
    }
}

diesel::table! {
    expected_receipts (id) {
        id -> BigInt,
        item_id -> BigInt,
        warehouse_id -> BigInt,
        quantity -> BigInt,
        expected_date -> Date,
        source -> Text,
        reference -> Nullable<Text>,
        status -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    replenishment_parameters (id) {
        id -> BigInt,
        item_id -> BigInt,
        warehouse_id -> Nullable<BigInt>,
        method -> Text,
        lead_time_days -> Integer,
        safety_stock -> BigInt,
        daily_capacity -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    holidays (id) {
        id -> BigInt,
        day -> Date,
        name -> Text,
    }
}

diesel::table! {
    calendar_settings (id) {
        id -> BigInt,
        weekend -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> BigInt,
        kind -> Text,
        number -> Text,
        draft_number -> Text,
        fiscal_year -> Nullable<Integer>,
        sequence_no -> Nullable<BigInt>,
        customer_id -> BigInt,
        contact_id -> Nullable<BigInt>,
        currency -> Text,
        doc_date -> Date,
        due_date -> Nullable<Date>,
        payment_terms_days -> Integer,
        price_list_id -> Nullable<BigInt>,
        sales_person_id -> Nullable<BigInt>,
        sales_partner_id -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        sales_order_id -> Nullable<BigInt>,
        delivery_id -> Nullable<BigInt>,
        credited_invoice_id -> Nullable<BigInt>,
        return_id -> Nullable<BigInt>,
        customer_po -> Nullable<Text>,
        notes -> Nullable<Text>,
        reason -> Nullable<Text>,
        status -> Text,
        net -> BigInt,
        tax -> BigInt,
        gross -> BigInt,
        base_rate -> BigInt,
        base_net -> BigInt,
        base_tax -> BigInt,
        base_gross -> BigInt,
        settled -> BigInt,
        credited -> BigInt,
        pricing -> Text,
        posted_at -> Nullable<Timestamp>,
        posted_by -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    legal_counters (series, fiscal_year) {
        series -> Text,
        fiscal_year -> Integer,
        next_value -> BigInt,
        last_date -> Date,
    }
}

diesel::table! {
    payments (id) {
        id -> BigInt,
        number -> Text,
        customer_id -> BigInt,
        pay_date -> Date,
        amount -> BigInt,
        currency -> Text,
        method -> Text,
        reference -> Nullable<Text>,
        cheque_due_date -> Nullable<Date>,
        status -> Text,
        allocated -> BigInt,
        refunded -> BigInt,
        base_rate -> BigInt,
        base_amount -> BigInt,
        bounce_fee -> Nullable<BigInt>,
        notes -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    allocations (id) {
        id -> BigInt,
        kind -> Text,
        payment_id -> Nullable<BigInt>,
        credit_note_id -> Nullable<BigInt>,
        invoice_id -> Nullable<BigInt>,
        customer_id -> BigInt,
        amount -> BigInt,
        source_amount -> BigInt,
        rate -> BigInt,
        fx_difference -> BigInt,
        alloc_date -> Date,
        reversed_at -> Nullable<Timestamp>,
        reversed_reason -> Nullable<Text>,
        actor -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    jobs (name) {
        name -> Text,
        interval_seconds -> Integer,
        next_run_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        locked_by -> Nullable<Text>,
        runs -> BigInt,
        failures -> BigInt,
        last_started_at -> Nullable<Timestamp>,
        last_finished_at -> Nullable<Timestamp>,
        last_status -> Nullable<Text>,
        last_result -> Nullable<Text>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    job_runs (id) {
        id -> BigInt,
        job_name -> Text,
        worker -> Text,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        status -> Text,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    recurring_invoices (id) {
        id -> BigInt,
        name -> Text,
        customer_id -> BigInt,
        currency -> Text,
        period -> Text,
        day_of_period -> Integer,
        start_date -> Date,
        end_date -> Nullable<Date>,
        auto_post -> Bool,
        auto_send -> Bool,
        payment_terms_days -> Nullable<Integer>,
        notes -> Nullable<Text>,
        lines -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    recurring_invoice_runs (id) {
        id -> BigInt,
        template_id -> BigInt,
        period_start -> Date,
        invoice_date -> Date,
        invoice_id -> Nullable<BigInt>,
        status -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    standard_sales_codes (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        lines -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    dunning_levels (id) {
        id -> BigInt,
        level -> Integer,
        name -> Text,
        days_overdue -> Integer,
        fee -> Nullable<BigInt>,
        letters -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    dunning_notices (id) {
        id -> BigInt,
        customer_id -> BigInt,
        invoice_id -> BigInt,
        level -> Integer,
        as_of -> Date,
        days_overdue -> BigInt,
        open_amount -> BigInt,
        fee -> Nullable<BigInt>,
        letter -> Text,
        activity_id -> Nullable<BigInt>,
        actor -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    promises_to_pay (id) {
        id -> BigInt,
        customer_id -> BigInt,
        promised_date -> Date,
        amount -> BigInt,
        note -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    commission_plans (id) {
        id -> BigInt,
        name -> Text,
        sales_person_id -> Nullable<BigInt>,
        sales_partner_id -> Nullable<BigInt>,
        basis -> Text,
        default_rate -> BigInt,
        group_rates -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    commission_statements (id) {
        id -> BigInt,
        plan_id -> BigInt,
        period -> Text,
        total -> BigInt,
        currency -> Text,
        entries -> Text,
        status -> Text,
        paid_at -> Nullable<Timestamp>,
        paid_by -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        event_id -> Text,
        event_type -> Text,
        version -> Integer,
        subject_kind -> Text,
        subject_id -> BigInt,
        customer_id -> Nullable<BigInt>,
        payload -> Text,
        actor -> Text,
        created_at -> Timestamp,
        fanned_out -> Bool,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> BigInt,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Text,
        secret -> Text,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        consecutive_failures -> Integer,
        fanned_out_to -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        subscription_id -> BigInt,
        event_id -> BigInt,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        log -> Text,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    email_messages (id) {
        id -> BigInt,
        doc_kind -> Text,
        doc_id -> BigInt,
        customer_id -> BigInt,
        recipients -> Text,
        subject -> Text,
        body -> Text,
        language -> Text,
        attach_ubl -> Bool,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_answer -> Nullable<Text>,
        log -> Text,
        sent_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        extra_attachments -> Text,
    }
}

diesel::table! {
    document_templates (id) {
        id -> BigInt,
        kind -> Text,
        format -> Text,
        language -> Text,
        body -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    company_settings (id) {
        id -> BigInt,
        data -> Text,
        version -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_categories (id) {
        id -> BigInt,
        name -> Text,
        parent_id -> Nullable<BigInt>,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    service_teams (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sla_policies (id) {
        id -> BigInt,
        name -> Text,
        customer_id -> Nullable<BigInt>,
        customer_group_id -> Nullable<BigInt>,
        priority -> Nullable<Text>,
        first_response_minutes -> Integer,
        resolution_minutes -> Integer,
        at_risk_percent -> Integer,
        escalations -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tickets (id) {
        id -> BigInt,
        number -> Text,
        customer_id -> BigInt,
        contact_id -> Nullable<BigInt>,
        kind -> Text,
        subject -> Text,
        description -> Nullable<Text>,
        item_id -> Nullable<BigInt>,
        sales_order_id -> Nullable<BigInt>,
        delivery_id -> Nullable<BigInt>,
        invoice_id -> Nullable<BigInt>,
        category_id -> Nullable<BigInt>,
        impact -> Text,
        urgency -> Text,
        priority -> Text,
        priority_set_by_hand -> Bool,
        stage -> Text,
        state -> Text,
        is_open -> Bool,
        assignee_id -> Nullable<BigInt>,
        team_id -> Nullable<BigInt>,
        score -> Integer,
        sla_policy_id -> Nullable<BigInt>,
        paused_minutes -> Integer,
        paused_since -> Nullable<Timestamp>,
        first_response_due_at -> Nullable<Timestamp>,
        first_response_risk_at -> Nullable<Timestamp>,
        first_responded_at -> Nullable<Timestamp>,
        resolution_due_at -> Nullable<Timestamp>,
        resolution_risk_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        sla_notified -> Integer,
        sla_next_at -> Nullable<Timestamp>,
        return_id -> Nullable<BigInt>,
        version -> BigInt,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_comments (id) {
        id -> BigInt,
        ticket_id -> BigInt,
        body -> Text,
        internal -> Bool,
        author -> Text,
        author_name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ticket_escalations (id) {
        id -> BigInt,
        ticket_id -> BigInt,
        target -> Text,
        level -> Text,
        actions -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    sales_facts (basis, line_id) {
        basis -> Text,
        doc_id -> BigInt,
        line_id -> BigInt,
        doc_date -> Date,
        month -> Integer,
        customer_id -> BigInt,
        customer_group_id -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        sales_person_id -> Nullable<BigInt>,
        sales_partner_id -> Nullable<BigInt>,
        campaign_id -> Nullable<BigInt>,
        item_id -> BigInt,
        item_group_id -> Nullable<BigInt>,
        quantity -> BigInt,
        net_base -> BigInt,
        cost_base -> BigInt,
        doc_first -> Integer,
        group_first -> Integer,
        item_first -> Integer,
    }
}

diesel::table! {
    sales_targets (id) {
        id -> BigInt,
        name -> Text,
        period -> Text,
        period_start -> Date,
        period_end -> Date,
        sales_person_id -> Nullable<BigInt>,
        include_team -> Bool,
        item_group_id -> Nullable<BigInt>,
        territory_id -> Nullable<BigInt>,
        measure -> Text,
        basis -> Text,
        value -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(item_prices -> price_lists (price_list_id));
diesel::joinable!(customer_prices -> customers (customer_id));

diesel::allow_tables_to_appear_in_same_query!(
    imports,
    refresh_tokens,
    suppliers,
    supplier_prices,
    users,
    api_clients,
    number_series,
    audit_log,
    idempotency_keys,
    customers,
    contacts,
    item_groups,
    items,
    exchange_rates,
    tax_rates,
    price_lists,
    item_prices,
    customer_prices,
    group_discounts,
    pricing_rules,
    coupons,
    coupon_redemptions,
    shipping_rules,
    units,
    item_units,
    item_components,
    item_option_groups,
    attachments,
    territories,
    customer_groups,
    sales_persons,
    sales_partners,
    campaigns,
    leads,
    pipeline_stages,
    opportunities,
    opportunity_items,
    opportunity_stage_changes,
    approval_routes,
    checklist_templates,
    quotations,
    sales_orders,
    blanket_orders,
    document_lines,
    blanket_schedule_lines,
    order_checklist_points,
    activities,
    warehouses,
    stock_balances,
    stock_ledger,
    order_line_stock,
    reservations,
    deliveries,
    delivery_lines,
    returns,
    return_lines,
    expected_receipts,
    replenishment_parameters,
    holidays,
    calendar_settings,
    invoices,
    legal_counters,
    payments,
    allocations,
    jobs,
    job_runs,
    recurring_invoices,
    recurring_invoice_runs,
    standard_sales_codes,
    dunning_levels,
    dunning_notices,
    promises_to_pay,
    commission_plans,
    commission_statements,
    events,
    webhook_subscriptions,
    webhook_deliveries,
    document_templates,
    email_messages,
    company_settings,
    ticket_categories,
    service_teams,
    sla_policies,
    tickets,
    ticket_comments,
    ticket_escalations,
    sales_facts,
    sales_targets,
);
