-- Passwordless passkey sign-ins started are counted per client address
-- (scope 'passkey'): each start holds a challenge before anyone is known.
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check
    CHECK (scope IN ('account', 'factor', 'ip', 'reset', 'reset-ip', 'passkey'));
