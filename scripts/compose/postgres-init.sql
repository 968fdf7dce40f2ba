-- The schema registry keeps its schemas in the stack's PostgreSQL, in a database of its own.
CREATE DATABASE registry;
