-- One search index over customers, contacts, items, leads, opportunities and the
-- sales documents, kept by triggers so every write path (API, import, demo seed)
-- feeds it. `customer_id`, `lead_id` and `owner_id` carry what row-level scope
-- needs (see crates/db/src/search.rs); `title` is weighted above `body`, then
-- `subtitle` (the customer's name on rows that hang off a customer).
CREATE TABLE search_entries (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    customer_id BIGINT,
    lead_id BIGINT,
    owner_id BIGINT,
    title TEXT NOT NULL,
    subtitle TEXT,
    body TEXT NOT NULL,
    -- 'simple': the data is Polish, Russian, Hebrew and English at once, so no
    -- stemming; ASCII punctuation becomes a space so `SO-2026-0001` is three words
    -- exactly as SQLite's unicode61 tokenizer sees it.
    terms tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, regexp_replace(title, '[[:punct:]]+', ' ', 'g')), 'A')
        || setweight(to_tsvector('simple'::regconfig, regexp_replace(body, '[[:punct:]]+', ' ', 'g')), 'B')
        || setweight(to_tsvector('simple'::regconfig, regexp_replace(coalesce(subtitle, ''), '[[:punct:]]+', ' ', 'g')), 'C')
    ) STORED,
    UNIQUE (kind, entity_id)
);
CREATE INDEX search_entries_terms ON search_entries USING GIN (terms);
CREATE INDEX search_entries_customer ON search_entries (customer_id);
CREATE INDEX search_entries_lead ON search_entries (lead_id);

CREATE FUNCTION search_put(k TEXT, eid BIGINT, cid BIGINT, lid BIGINT, oid BIGINT, t TEXT, s TEXT, b TEXT)
RETURNS void AS $$
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES (k, eid, cid, lid, oid, t, s, b)
    ON CONFLICT (kind, entity_id) DO UPDATE SET customer_id = EXCLUDED.customer_id,
        lead_id = EXCLUDED.lead_id, owner_id = EXCLUDED.owner_id, title = EXCLUDED.title,
        subtitle = EXCLUDED.subtitle, body = EXCLUDED.body;
$$ LANGUAGE sql;

CREATE FUNCTION search_customer_name(cid BIGINT) RETURNS TEXT AS $$
    SELECT name FROM customers WHERE id = cid;
$$ LANGUAGE sql STABLE;

CREATE FUNCTION search_index_row() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM search_entries WHERE kind = TG_ARGV[0] AND entity_id = OLD.id;
        RETURN OLD;
    END IF;
    CASE TG_ARGV[0]
    WHEN 'customer' THEN
        PERFORM search_put('customer', NEW.id, NEW.id, NULL, NULL, NEW.name, NEW.number,
            concat_ws(' ', NEW.number, NEW.legal_name, NEW.tax_id, NEW.email, NEW.phone));
        IF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name THEN
            UPDATE search_entries SET subtitle = NEW.name WHERE customer_id = NEW.id AND kind <> 'customer';
        END IF;
    WHEN 'contact' THEN
        PERFORM search_put('contact', NEW.id, NEW.customer_id, NULL, NULL, NEW.name,
            search_customer_name(NEW.customer_id), concat_ws(' ', NEW.role, NEW.email, NEW.phone));
    WHEN 'item' THEN
        PERFORM search_put('item', NEW.id, NULL, NULL, NULL, NEW.name, NEW.sku,
            concat_ws(' ', NEW.sku, NEW.barcode, NEW.description));
    WHEN 'lead' THEN
        PERFORM search_put('lead', NEW.id, NULL, NEW.id, NEW.owner_id,
            coalesce(NEW.company_name, NEW.person_name, NEW.number), NEW.number,
            concat_ws(' ', NEW.number, NEW.person_name, NEW.company_name, NEW.email, NEW.phone));
    WHEN 'opportunity' THEN
        PERFORM search_put('opportunity', NEW.id, NEW.customer_id, NEW.lead_id, NEW.owner_id, NEW.title,
            search_customer_name(NEW.customer_id), coalesce(NEW.competitor, ''));
    WHEN 'quotation' THEN
        PERFORM search_put('quotation', NEW.id, NEW.customer_id, NULL, NULL,
            CASE WHEN NEW.revision > 1 THEN NEW.number || ' rev ' || NEW.revision ELSE NEW.number END,
            search_customer_name(NEW.customer_id), NEW.number);
    WHEN 'sales_order' THEN
        PERFORM search_put('sales_order', NEW.id, NEW.customer_id, NULL, NULL, NEW.number,
            search_customer_name(NEW.customer_id), concat_ws(' ', NEW.customer_po, NEW.contract_number));
    WHEN 'blanket_order' THEN
        PERFORM search_put('blanket_order', NEW.id, NEW.customer_id, NULL, NULL, NEW.number,
            search_customer_name(NEW.customer_id), coalesce(NEW.contract_number, ''));
    WHEN 'delivery' THEN
        PERFORM search_put('delivery', NEW.id, NEW.customer_id, NULL, NULL, NEW.number,
            search_customer_name(NEW.customer_id), coalesce(NEW.tracking_number, ''));
    WHEN 'return' THEN
        PERFORM search_put('return', NEW.id, NEW.customer_id, NULL, NULL, NEW.number,
            search_customer_name(NEW.customer_id), '');
    END CASE;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Only the columns the index reads fire the update triggers: the order path's many
-- status and total updates cost nothing here.
CREATE TRIGGER customers_search AFTER INSERT OR DELETE OR UPDATE OF number, name, legal_name, tax_id, email, phone
    ON customers FOR EACH ROW EXECUTE FUNCTION search_index_row('customer');
CREATE TRIGGER contacts_search AFTER INSERT OR DELETE OR UPDATE OF customer_id, name, role, email, phone
    ON contacts FOR EACH ROW EXECUTE FUNCTION search_index_row('contact');
CREATE TRIGGER items_search AFTER INSERT OR DELETE OR UPDATE OF sku, name, barcode, description
    ON items FOR EACH ROW EXECUTE FUNCTION search_index_row('item');
CREATE TRIGGER leads_search AFTER INSERT OR DELETE OR UPDATE OF number, person_name, company_name, email, phone, owner_id
    ON leads FOR EACH ROW EXECUTE FUNCTION search_index_row('lead');
CREATE TRIGGER opportunities_search AFTER INSERT OR DELETE OR UPDATE OF title, customer_id, lead_id, owner_id, competitor
    ON opportunities FOR EACH ROW EXECUTE FUNCTION search_index_row('opportunity');
CREATE TRIGGER quotations_search AFTER INSERT OR DELETE OR UPDATE OF number, revision, customer_id
    ON quotations FOR EACH ROW EXECUTE FUNCTION search_index_row('quotation');
CREATE TRIGGER sales_orders_search AFTER INSERT OR DELETE OR UPDATE OF number, customer_id, customer_po, contract_number
    ON sales_orders FOR EACH ROW EXECUTE FUNCTION search_index_row('sales_order');
CREATE TRIGGER blanket_orders_search AFTER INSERT OR DELETE OR UPDATE OF number, customer_id, contract_number
    ON blanket_orders FOR EACH ROW EXECUTE FUNCTION search_index_row('blanket_order');
CREATE TRIGGER deliveries_search AFTER INSERT OR DELETE OR UPDATE OF number, customer_id, tracking_number
    ON deliveries FOR EACH ROW EXECUTE FUNCTION search_index_row('delivery');
CREATE TRIGGER returns_search AFTER INSERT OR DELETE OR UPDATE OF number, customer_id
    ON returns FOR EACH ROW EXECUTE FUNCTION search_index_row('return');

-- What exists already.
INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
SELECT 'customer', id, id, NULL::BIGINT, NULL::BIGINT, name, number, concat_ws(' ', number, legal_name, tax_id, email, phone) FROM customers
UNION ALL SELECT 'contact', id, customer_id, NULL, NULL, name, search_customer_name(customer_id), concat_ws(' ', role, email, phone) FROM contacts
UNION ALL SELECT 'item', id, NULL, NULL, NULL, name, sku, concat_ws(' ', sku, barcode, description) FROM items
UNION ALL SELECT 'lead', id, NULL, id, owner_id, coalesce(company_name, person_name, number), number,
    concat_ws(' ', number, person_name, company_name, email, phone) FROM leads
UNION ALL SELECT 'opportunity', id, customer_id, lead_id, owner_id, title, search_customer_name(customer_id), coalesce(competitor, '') FROM opportunities
UNION ALL SELECT 'quotation', id, customer_id, NULL, NULL,
    CASE WHEN revision > 1 THEN number || ' rev ' || revision ELSE number END, search_customer_name(customer_id), number FROM quotations
UNION ALL SELECT 'sales_order', id, customer_id, NULL, NULL, number, search_customer_name(customer_id), concat_ws(' ', customer_po, contract_number) FROM sales_orders
UNION ALL SELECT 'blanket_order', id, customer_id, NULL, NULL, number, search_customer_name(customer_id), coalesce(contract_number, '') FROM blanket_orders
UNION ALL SELECT 'delivery', id, customer_id, NULL, NULL, number, search_customer_name(customer_id), coalesce(tracking_number, '') FROM deliveries
UNION ALL SELECT 'return', id, customer_id, NULL, NULL, number, search_customer_name(customer_id), '' FROM returns;
