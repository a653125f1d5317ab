-- codestral-ls for Neovim 0.11+: `vim.lsp.enable('codestral_ls')` starts it for every file.
--
-- The API key comes from the environment Neovim was started with (CODESTRAL_API_KEY for
-- codestral.mistral.ai, MISTRAL_API_KEY for api.mistral.ai); it never belongs in `settings`.
-- Settings are the `codestral` section (see `:help codestral-settings`), for example:
--
--   vim.lsp.config('codestral_ls', { settings = { codestral = { model = 'codestral-2508' } } })

---@type vim.lsp.Config
return {
  cmd = { 'codestral-ls' },
  -- No `filetypes`: completions are useful in every file; the server's `enable` setting
  -- switches languages off.
  root_markers = { '.git' },
  workspace_required = false,
  settings = { codestral = {} },
  -- Ask for the `codestral/status` notification (the server sends it only to clients that
  -- opt in this way; see docs/protocol.md). Merged into Neovim's default capabilities.
  capabilities = { experimental = { codestral = { statusNotification = true } } },
  before_init = function(params, config)
    -- Kept even when a user's `capabilities` replaced the table above.
    params.capabilities = params.capabilities or {}
    local experimental = params.capabilities.experimental
    if type(experimental) ~= 'table' then
      experimental = {}
      params.capabilities.experimental = experimental
    end
    if type(experimental.codestral) ~= 'table' then
      experimental.codestral = {}
    end
    experimental.codestral.statusNotification = true
    -- The same settings as initializationOptions, so the first request already uses them.
    local section = vim.tbl_get(config, 'settings', 'codestral')
    if type(section) == 'table' and next(section) ~= nil then
      params.initializationOptions = { codestral = section }
    end
  end,
  handlers = {
    ['codestral/status'] = function(err, result, ctx)
      local ok, codestral = pcall(require, 'codestral')
      if ok then
        codestral.on_status(err, result, ctx)
      end
    end,
  },
}
