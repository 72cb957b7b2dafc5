-- Hand translation of the column the Calcifer importer reads from knex migration
-- 2024-04-26-0000-snmp-monitor.js (vendored next to this file): table.string("json_path_operator").defaultTo(null).
-- (snmp_oid and snmp_version from the same migration are not read by the importer and are left out.)
ALTER TABLE monitor ADD json_path_operator VARCHAR(255) DEFAULT NULL;
