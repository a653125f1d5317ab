--- `:checkhealth codestral`: Neovim version, server, key, endpoint and model.
---
--- The endpoint and model checks run `codestral-ls doctor`, which uses the server's own
--- settings resolution and HTTP client: it lists the endpoint's models, checks the configured
--- model and times one small completion.

local M = {}

local health = vim.health

--- Seconds `codestral-ls doctor` may take.
M.doctor_timeout_ms = 30000

local KEY_VARIABLES = { 'CODESTRAL_API_KEY', 'MISTRAL_API_KEY' }

local function check_neovim(codestral)
  if vim.fn.has('nvim-0.10') == 1 then
    local path = codestral.ghost_path()
    local mode = path and codestral.path_names[path] or 'no suggestions (ghost_text and completion are both off)'
    health.ok(string.format('Neovim %s: %s', tostring(vim.version()), mode))
    local paused = vim.tbl_filter(function(bufnr)
      return vim.b[bufnr].codestral_enabled == false
    end, vim.api.nvim_list_bufs())
    if #paused > 0 then
      health.info(string.format('paused with :Codestral toggle in %d buffer(s)', #paused))
    end
  else
    health.error('Neovim 0.10 or newer is needed', { 'Upgrade Neovim.' })
  end
end

--- The server command, or nil with an error reported.
---@return string[]?
local function check_server(codestral)
  local cmd = codestral.cmd()
  local exe = cmd[1]
  if type(exe) ~= 'string' or vim.fn.executable(exe) ~= 1 then
    health.error(string.format('server command not found: %s', tostring(exe)), {
      'Install it: pipx install codestral-ls (or python3 -m pip install codestral-ls)',
      "Or point setup() at it: require('codestral').setup({ cmd = { '/path/to/codestral-ls' } })",
    })
    return nil
  end
  health.ok(string.format('server: %s (%s)', table.concat(cmd, ' '), vim.fn.exepath(exe)))
  return cmd
end

--- The environment the server gets: Neovim's, plus cmd_env.
local function server_env(codestral)
  local env = vim.fn.environ()
  for name, value in pairs(codestral.config.cmd_env or {}) do
    env[name] = value
  end
  return env
end

local function check_key(codestral)
  local env = server_env(codestral)
  local found = {}
  for _, name in ipairs(KEY_VARIABLES) do
    if env[name] and vim.trim(env[name]) ~= '' then
      found[#found + 1] = name
    end
  end
  local settings = codestral.config.settings or {}
  if settings.apiKey then
    health.warn('apiKey is set in the settings', {
      'Prefer CODESTRAL_API_KEY or MISTRAL_API_KEY in the environment, so the key stays out of config files.',
    })
    return true
  end
  if #found == 0 then
    health.error('no API key: neither CODESTRAL_API_KEY nor MISTRAL_API_KEY is set', {
      'export CODESTRAL_API_KEY=... (a key from codestral.mistral.ai) before starting Neovim',
      'or export MISTRAL_API_KEY=... (a key from console.mistral.ai, for api.mistral.ai)',
    })
    return false
  end
  health.ok('API key: ' .. table.concat(found, ' and ') .. ' is set')
  return true
end

--- Parse one line of `codestral-ls doctor` ("ok   endpoint ..." / "FAIL model ...").
---@return boolean? ok, string? what, string? message
function M.parse_doctor_line(line)
  local status, rest = line:match('^(ok)%s+(.*)$')
  if not status then
    status, rest = line:match('^(FAIL)%s+(.*)$')
  end
  if not status then
    return nil
  end
  local what, message = rest:match('^(%S+)%s*(.*)$')
  if not what then
    return nil
  end
  return status == 'ok', what, message
end

local ADVICE = {
  key = { 'Set CODESTRAL_API_KEY or MISTRAL_API_KEY before starting Neovim.' },
  endpoint = {
    'Keys of codestral.mistral.ai and api.mistral.ai are not interchangeable: check the endpoint named above.',
    'Set the endpoint setting if you use another server.',
  },
  model = { "Pick one of the listed models: :Codestral model, or settings = { model = '...' }." },
  models = { 'This endpoint offers no fill-in-the-middle model.' },
  fim = { 'The completion request failed; see the message above.' },
  settings = { 'Fix the setting named above.' },
}

local function check_doctor(codestral, cmd)
  local command = vim.list_extend(vim.deepcopy(cmd), { 'doctor', '--settings', vim.json.encode(codestral.config.settings or vim.empty_dict()) })
  local ok_run, process = pcall(vim.system, command, { text = true, env = codestral.config.cmd_env })
  if not ok_run then
    health.error('could not run ' .. table.concat(command, ' ') .. ': ' .. tostring(process))
    return
  end
  local result = process:wait(M.doctor_timeout_ms)
  if result.code == 124 then
    health.error(string.format('codestral-ls doctor did not finish within %d s', M.doctor_timeout_ms / 1000))
    return
  end
  local seen = 0
  for line in vim.gsplit(result.stdout or '', '\n', { trimempty = true }) do
    local ok, what, message = M.parse_doctor_line(line)
    if ok ~= nil then
      seen = seen + 1
      local text = string.format('%s: %s', what, message)
      if ok then
        health.ok(text)
      else
        health.error(text, ADVICE[what])
      end
    end
  end
  if seen == 0 then
    health.error('codestral-ls doctor printed nothing readable (exit ' .. tostring(result.code) .. ')', {
      vim.trim(result.stderr or ''),
    })
  end
end

local function check_clients(codestral)
  local clients = vim.lsp.get_clients({ name = codestral.name })
  if #clients == 0 then
    health.info('no codestral-ls client is running (it starts when a file is opened after setup())')
    return
  end
  for _, client in ipairs(clients) do
    local buffers = vim.tbl_count(client.attached_buffers or {})
    health.info(string.format('client %d: %d buffer(s), position encoding %s, status: %s', client.id, buffers, client.offset_encoding, codestral.format_status(codestral.statuses[client.id])))
  end
end

function M.check()
  local codestral = require('codestral')
  health.start('codestral: Neovim')
  check_neovim(codestral)
  health.start('codestral: server')
  local cmd = check_server(codestral)
  health.start('codestral: API key')
  local key = check_key(codestral)
  health.start('codestral: endpoint and model')
  if not cmd then
    health.error('skipped: the server was not found')
  elseif not key then
    health.error('skipped: no API key')
  else
    check_doctor(codestral, cmd)
  end
  health.start('codestral: clients')
  check_clients(codestral)
end

return M
