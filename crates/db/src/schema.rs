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
    }
}

diesel::table! {
    number_series (code) {
        code -> Text,
        pattern -> Text,
        next_value -> BigInt,
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
        item_id -> BigInt,
        kind -> Text,
        filename -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        created_by -> Text,
        version -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::joinable!(item_prices -> price_lists (price_list_id));
diesel::joinable!(customer_prices -> customers (customer_id));

diesel::allow_tables_to_appear_in_same_query!(
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
);
