-- Hand translation of the columns the Calcifer importer reads from knex migration
-- 2024-04-26-0000-snmp-monitor.js (vendored next to this file): table.string("snmp_oid").defaultTo(null),
-- table.enum("snmp_version", ["1", "2c", "3"]).defaultTo("2c") (knex makes an enum a text column with a
-- CHECK on SQLite) and table.string("json_path_operator").defaultTo(null).
ALTER TABLE monitor ADD snmp_oid VARCHAR(255) DEFAULT NULL;
ALTER TABLE monitor ADD snmp_version TEXT CHECK (snmp_version IN ('1', '2c', '3')) DEFAULT '2c';
ALTER TABLE monitor ADD json_path_operator VARCHAR(255) DEFAULT NULL;
