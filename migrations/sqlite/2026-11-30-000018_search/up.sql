-- One search index over customers, contacts, items, leads, opportunities and the
-- sales documents, kept by triggers so every write path (API, import, demo seed)
-- feeds it; an FTS5 table over it (external content) does the matching and bm25
-- ranking. `customer_id`, `lead_id` and `owner_id` carry what row-level scope needs
-- (see crates/db/src/search.rs). PostgreSQL has the same table with a tsvector.
CREATE TABLE search_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    customer_id BIGINT,
    lead_id BIGINT,
    owner_id BIGINT,
    title TEXT NOT NULL,
    subtitle TEXT,
    body TEXT NOT NULL,
    UNIQUE (kind, entity_id)
);
CREATE INDEX search_entries_customer ON search_entries (customer_id);
CREATE INDEX search_entries_lead ON search_entries (lead_id);

-- remove_diacritics 0: the same matching as PostgreSQL's 'simple' configuration.
CREATE VIRTUAL TABLE search_fts USING fts5(
    title, body, subtitle, content='search_entries', content_rowid='id',
    tokenize='unicode61 remove_diacritics 0'
);
CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN
    INSERT INTO search_fts (rowid, title, body, subtitle) VALUES (NEW.id, NEW.title, NEW.body, NEW.subtitle);
END;
CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body, subtitle) VALUES ('delete', OLD.id, OLD.title, OLD.body, OLD.subtitle);
END;
CREATE TRIGGER search_entries_au AFTER UPDATE OF title, body, subtitle ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body, subtitle) VALUES ('delete', OLD.id, OLD.title, OLD.body, OLD.subtitle);
    INSERT INTO search_fts (rowid, title, body, subtitle) VALUES (NEW.id, NEW.title, NEW.body, NEW.subtitle);
END;

-- Only the columns the index reads fire the update triggers: the order path's many
-- status and total updates cost nothing here.
CREATE TRIGGER customers_search_ai AFTER INSERT ON customers BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('customer', NEW.id, NEW.id, NULL, NULL, NEW.name, NEW.number, (coalesce(NEW.number, '') || ' ' || coalesce(NEW.legal_name, '') || ' ' || coalesce(NEW.tax_id, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '')));
END;
CREATE TRIGGER customers_search_au AFTER UPDATE OF number, name, legal_name, tax_id, email, phone ON customers BEGIN
    UPDATE search_entries SET customer_id = NEW.id, lead_id = NULL, owner_id = NULL, title = NEW.name, subtitle = NEW.number, body = (coalesce(NEW.number, '') || ' ' || coalesce(NEW.legal_name, '') || ' ' || coalesce(NEW.tax_id, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, ''))
    WHERE kind = 'customer' AND entity_id = NEW.id;
END;
CREATE TRIGGER customers_search_ad AFTER DELETE ON customers BEGIN
    DELETE FROM search_entries WHERE kind = 'customer' AND entity_id = OLD.id;
END;
CREATE TRIGGER contacts_search_ai AFTER INSERT ON contacts BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('contact', NEW.id, NEW.customer_id, NULL, NULL, NEW.name, (SELECT name FROM customers WHERE id = NEW.customer_id), (coalesce(NEW.role, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '')));
END;
CREATE TRIGGER contacts_search_au AFTER UPDATE OF customer_id, name, role, email, phone ON contacts BEGIN
    UPDATE search_entries SET customer_id = NEW.customer_id, lead_id = NULL, owner_id = NULL, title = NEW.name, subtitle = (SELECT name FROM customers WHERE id = NEW.customer_id), body = (coalesce(NEW.role, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, ''))
    WHERE kind = 'contact' AND entity_id = NEW.id;
END;
CREATE TRIGGER contacts_search_ad AFTER DELETE ON contacts BEGIN
    DELETE FROM search_entries WHERE kind = 'contact' AND entity_id = OLD.id;
END;
CREATE TRIGGER items_search_ai AFTER INSERT ON items BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('item', NEW.id, NULL, NULL, NULL, NEW.name, NEW.sku, (coalesce(NEW.sku, '') || ' ' || coalesce(NEW.barcode, '') || ' ' || coalesce(NEW.description, '')));
END;
CREATE TRIGGER items_search_au AFTER UPDATE OF sku, name, barcode, description ON items BEGIN
    UPDATE search_entries SET customer_id = NULL, lead_id = NULL, owner_id = NULL, title = NEW.name, subtitle = NEW.sku, body = (coalesce(NEW.sku, '') || ' ' || coalesce(NEW.barcode, '') || ' ' || coalesce(NEW.description, ''))
    WHERE kind = 'item' AND entity_id = NEW.id;
END;
CREATE TRIGGER items_search_ad AFTER DELETE ON items BEGIN
    DELETE FROM search_entries WHERE kind = 'item' AND entity_id = OLD.id;
END;
CREATE TRIGGER leads_search_ai AFTER INSERT ON leads BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('lead', NEW.id, NULL, NEW.id, NEW.owner_id, coalesce(NEW.company_name, NEW.person_name, NEW.number), NEW.number, (coalesce(NEW.number, '') || ' ' || coalesce(NEW.person_name, '') || ' ' || coalesce(NEW.company_name, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '')));
END;
CREATE TRIGGER leads_search_au AFTER UPDATE OF number, person_name, company_name, email, phone, owner_id ON leads BEGIN
    UPDATE search_entries SET customer_id = NULL, lead_id = NEW.id, owner_id = NEW.owner_id, title = coalesce(NEW.company_name, NEW.person_name, NEW.number), subtitle = NEW.number, body = (coalesce(NEW.number, '') || ' ' || coalesce(NEW.person_name, '') || ' ' || coalesce(NEW.company_name, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, ''))
    WHERE kind = 'lead' AND entity_id = NEW.id;
END;
CREATE TRIGGER leads_search_ad AFTER DELETE ON leads BEGIN
    DELETE FROM search_entries WHERE kind = 'lead' AND entity_id = OLD.id;
END;
CREATE TRIGGER opportunities_search_ai AFTER INSERT ON opportunities BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('opportunity', NEW.id, NEW.customer_id, NEW.lead_id, NEW.owner_id, NEW.title, (SELECT name FROM customers WHERE id = NEW.customer_id), coalesce(NEW.competitor, ''));
END;
CREATE TRIGGER opportunities_search_au AFTER UPDATE OF title, customer_id, lead_id, owner_id, competitor ON opportunities BEGIN
    UPDATE search_entries SET customer_id = NEW.customer_id, lead_id = NEW.lead_id, owner_id = NEW.owner_id, title = NEW.title, subtitle = (SELECT name FROM customers WHERE id = NEW.customer_id), body = coalesce(NEW.competitor, '')
    WHERE kind = 'opportunity' AND entity_id = NEW.id;
END;
CREATE TRIGGER opportunities_search_ad AFTER DELETE ON opportunities BEGIN
    DELETE FROM search_entries WHERE kind = 'opportunity' AND entity_id = OLD.id;
END;
CREATE TRIGGER quotations_search_ai AFTER INSERT ON quotations BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('quotation', NEW.id, NEW.customer_id, NULL, NULL, CASE WHEN NEW.revision > 1 THEN NEW.number || ' rev ' || NEW.revision ELSE NEW.number END, (SELECT name FROM customers WHERE id = NEW.customer_id), NEW.number);
END;
CREATE TRIGGER quotations_search_au AFTER UPDATE OF number, revision, customer_id ON quotations BEGIN
    UPDATE search_entries SET customer_id = NEW.customer_id, lead_id = NULL, owner_id = NULL, title = CASE WHEN NEW.revision > 1 THEN NEW.number || ' rev ' || NEW.revision ELSE NEW.number END, subtitle = (SELECT name FROM customers WHERE id = NEW.customer_id), body = NEW.number
    WHERE kind = 'quotation' AND entity_id = NEW.id;
END;
CREATE TRIGGER quotations_search_ad AFTER DELETE ON quotations BEGIN
    DELETE FROM search_entries WHERE kind = 'quotation' AND entity_id = OLD.id;
END;
CREATE TRIGGER sales_orders_search_ai AFTER INSERT ON sales_orders BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('sales_order', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), (coalesce(NEW.customer_po, '') || ' ' || coalesce(NEW.contract_number, '')));
END;
CREATE TRIGGER sales_orders_search_au AFTER UPDATE OF number, customer_id, customer_po, contract_number ON sales_orders BEGIN
    UPDATE search_entries SET customer_id = NEW.customer_id, lead_id = NULL, owner_id = NULL, title = NEW.number, subtitle = (SELECT name FROM customers WHERE id = NEW.customer_id), body = (coalesce(NEW.customer_po, '') || ' ' || coalesce(NEW.contract_number, ''))
    WHERE kind = 'sales_order' AND entity_id = NEW.id;
END;
CREATE TRIGGER sales_orders_search_ad AFTER DELETE ON sales_orders BEGIN
    DELETE FROM search_entries WHERE kind = 'sales_order' AND entity_id = OLD.id;
END;
CREATE TRIGGER blanket_orders_search_ai AFTER INSERT ON blanket_orders BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('blanket_order', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), coalesce(NEW.contract_number, ''));
END;
CREATE TRIGGER blanket_orders_search_au AFTER UPDATE OF number, customer_id, contract_number ON blanket_orders BEGIN
    UPDATE search_entries SET customer_id = NEW.customer_id, lead_id = NULL, owner_id = NULL, title = NEW.number, subtitle = (SELECT name FROM customers WHERE id = NEW.customer_id), body = coalesce(NEW.contract_number, '')
    WHERE kind = 'blanket_order' AND entity_id = NEW.id;
END;
CREATE TRIGGER blanket_orders_search_ad AFTER DELETE ON blanket_orders BEGIN
    DELETE FROM search_entries WHERE kind = 'blanket_order' AND entity_id = OLD.id;
END;
CREATE TRIGGER deliveries_search_ai AFTER INSERT ON deliveries BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('delivery', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), coalesce(NEW.tracking_number, ''));
END;
CREATE TRIGGER deliveries_search_au AFTER UPDATE OF number, customer_id, tracking_number ON deliveries BEGIN
    UPDATE search_entries SET customer_id = NEW.customer_id, lead_id = NULL, owner_id = NULL, title = NEW.number, subtitle = (SELECT name FROM customers WHERE id = NEW.customer_id), body = coalesce(NEW.tracking_number, '')
    WHERE kind = 'delivery' AND entity_id = NEW.id;
END;
CREATE TRIGGER deliveries_search_ad AFTER DELETE ON deliveries BEGIN
    DELETE FROM search_entries WHERE kind = 'delivery' AND entity_id = OLD.id;
END;
CREATE TRIGGER returns_search_ai AFTER INSERT ON returns BEGIN
    INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
    VALUES ('return', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), '');
END;
CREATE TRIGGER returns_search_au AFTER UPDATE OF number, customer_id ON returns BEGIN
    UPDATE search_entries SET customer_id = NEW.customer_id, lead_id = NULL, owner_id = NULL, title = NEW.number, subtitle = (SELECT name FROM customers WHERE id = NEW.customer_id), body = ''
    WHERE kind = 'return' AND entity_id = NEW.id;
END;
CREATE TRIGGER returns_search_ad AFTER DELETE ON returns BEGIN
    DELETE FROM search_entries WHERE kind = 'return' AND entity_id = OLD.id;
END;
-- A renamed customer renames the subtitle of every row that hangs off it.
CREATE TRIGGER customers_search_rename AFTER UPDATE OF name ON customers BEGIN
    UPDATE search_entries SET subtitle = NEW.name WHERE customer_id = NEW.id AND kind <> 'customer';
END;

-- What exists already.
INSERT INTO search_entries (kind, entity_id, customer_id, lead_id, owner_id, title, subtitle, body)
SELECT 'customer', NEW.id, NEW.id, NULL, NULL, NEW.name, NEW.number, (coalesce(NEW.number, '') || ' ' || coalesce(NEW.legal_name, '') || ' ' || coalesce(NEW.tax_id, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '')) FROM customers AS NEW
UNION ALL SELECT 'contact', NEW.id, NEW.customer_id, NULL, NULL, NEW.name, (SELECT name FROM customers WHERE id = NEW.customer_id), (coalesce(NEW.role, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '')) FROM contacts AS NEW
UNION ALL SELECT 'item', NEW.id, NULL, NULL, NULL, NEW.name, NEW.sku, (coalesce(NEW.sku, '') || ' ' || coalesce(NEW.barcode, '') || ' ' || coalesce(NEW.description, '')) FROM items AS NEW
UNION ALL SELECT 'lead', NEW.id, NULL, NEW.id, NEW.owner_id, coalesce(NEW.company_name, NEW.person_name, NEW.number), NEW.number, (coalesce(NEW.number, '') || ' ' || coalesce(NEW.person_name, '') || ' ' || coalesce(NEW.company_name, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '')) FROM leads AS NEW
UNION ALL SELECT 'opportunity', NEW.id, NEW.customer_id, NEW.lead_id, NEW.owner_id, NEW.title, (SELECT name FROM customers WHERE id = NEW.customer_id), coalesce(NEW.competitor, '') FROM opportunities AS NEW
UNION ALL SELECT 'quotation', NEW.id, NEW.customer_id, NULL, NULL, CASE WHEN NEW.revision > 1 THEN NEW.number || ' rev ' || NEW.revision ELSE NEW.number END, (SELECT name FROM customers WHERE id = NEW.customer_id), NEW.number FROM quotations AS NEW
UNION ALL SELECT 'sales_order', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), (coalesce(NEW.customer_po, '') || ' ' || coalesce(NEW.contract_number, '')) FROM sales_orders AS NEW
UNION ALL SELECT 'blanket_order', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), coalesce(NEW.contract_number, '') FROM blanket_orders AS NEW
UNION ALL SELECT 'delivery', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), coalesce(NEW.tracking_number, '') FROM deliveries AS NEW
UNION ALL SELECT 'return', NEW.id, NEW.customer_id, NULL, NULL, NEW.number, (SELECT name FROM customers WHERE id = NEW.customer_id), '' FROM returns AS NEW;
