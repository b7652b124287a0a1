-- The cleanup job prunes expired links oldest first.
CREATE INDEX user_tokens_expires_at_idx ON user_tokens (expires_at);
