--- codestral.nvim: Neovim front end for codestral-ls (Mistral's Codestral over LSP).
---
--- require('codestral').setup({ settings = { model = 'codestral-latest' } })
---
--- See `:help codestral`.

local M = {}

M.name = 'codestral_ls'

--- Commands and notification of the server (docs/protocol.md).
M.protocol = {
  list_models = 'codestral.listModels',
  select_model = 'codestral.selectModel',
  edit = 'codestral.edit',
  status = 'codestral.status',
  did_accept = 'codestral.didAccept',
  stats = 'codestral.stats',
  status_notification = 'codestral/status',
}

---@class codestral.Config
---@field cmd string[]? Command starting the server (default: `{ 'codestral-ls' }`).
---@field cmd_env table<string,string>? Extra environment for the server.
---@field settings table? The server's `codestral` settings section.
---@field filetypes string[]? Only these filetypes (default: all).
---@field root_markers string[]? Files marking a project root (default: `{ '.git' }`).
---@field ghost_text boolean? Ghost text (default true): vim.lsp.inline_completion on 0.12+, drawn by the plugin on 0.10/0.11.
---@field ghost_text_with_menu boolean? Also show ghost text while the completion menu is open (default false).
---@field keymaps table|false? Insert-mode keys of the ghost text (see `:help codestral-keymaps`).
---@field completion boolean? Completion-menu items when ghost text is off (default true).
---@field autotrigger boolean? Open the completion menu while typing, with completion items (default true).
---@field accept_key string|false? Old name of `keymaps.accept`.
---@field notify_status boolean? Echo state changes (errors, rate limits) (default false).
M.defaults = {
  cmd = nil,
  cmd_env = nil,
  settings = {},
  filetypes = nil,
  root_markers = { '.git' },
  ghost_text = true,
  ghost_text_with_menu = false,
  keymaps = vim.deepcopy(require('codestral.keymaps').defaults),
  completion = true,
  autotrigger = true,
  accept_key = nil,
  notify_status = false,
}

---@type codestral.Config
M.config = vim.deepcopy(M.defaults)

--- Last `codestral/status` payload per client id.
---@type table<integer, table>
M.statuses = {}

local augroup = vim.api.nvim_create_augroup('codestral', { clear = true })

--- Neovim 0.11 has vim.lsp.config/enable and client methods (`client:request()`); 0.10 has
--- vim.lsp.start and client functions (`client.request()`).
local HAS_011 = vim.fn.has('nvim-0.11') == 1

--- Call a method of an LSP client on 0.10 and 0.11 alike: `M.call(client, 'request', ...)`.
function M.call(client, name, ...)
  if HAS_011 then
    return client[name](client, ...)
  end
  return client[name](...)
end

local function supports(client, method, bufnr)
  if HAS_011 then
    return client:supports_method(method, bufnr)
  end
  return client.supports_method(method, { bufnr = bufnr })
end

local function notify(message, level)
  vim.notify('codestral-ls: ' .. message, level or vim.log.levels.INFO, { title = 'codestral' })
end

--- The server command from the config, or the default.
---@return string[]
function M.cmd()
  if M.config.cmd then
    return M.config.cmd
  end
  local configured = HAS_011 and vim.lsp.config[M.name] or nil
  if configured and type(configured.cmd) == 'table' then
    return configured.cmd
  end
  return { 'codestral-ls' }
end

--- The codestral-ls client attached to `bufnr` (default: current), or any running one.
---@param bufnr integer?
---@return vim.lsp.Client?
function M.get_client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr or 0 })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = M.name })
  end
  return clients[1]
end

local function has_inline_completion()
  return vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil
end

--- How suggestions are shown, decided in this one place:
--- `'native'` (ghost text through vim.lsp.inline_completion, Neovim 0.12+), `'extmarks'` (ghost
--- text drawn by this plugin, Neovim 0.10/0.11), `'completion'` (completion-menu items) or nil.
---@return 'native'|'extmarks'|'completion'|nil
function M.ghost_path()
  if M.config.ghost_text then
    return has_inline_completion() and 'native' or 'extmarks'
  end
  return M.config.completion and 'completion' or nil
end

--- What each path is called in messages and `:checkhealth`.
M.path_names = {
  native = 'ghost text through vim.lsp.inline_completion (Neovim 0.12+)',
  extmarks = "ghost text drawn by the plugin (extmarks, namespace 'codestral_ghost')",
  completion = 'completion-menu items (vim.lsp.completion)',
}

--- The keys from the config (`accept_key` is the old name of `keymaps.accept`).
local function keymaps_config()
  local keymaps = M.config.keymaps
  if keymaps == false then
    return false
  end
  keymaps = vim.deepcopy(keymaps or {})
  if M.config.accept_key ~= nil then
    keymaps.accept = M.config.accept_key
  end
  return keymaps
end

--- Turn on ghost text or completion items for the client in a buffer.
---@param client vim.lsp.Client
---@param bufnr integer
---@return 'ghost_text'|'completion'|nil mode
function M.enable_completion(client, bufnr)
  local path = M.ghost_path()
  local keymaps = require('codestral.keymaps')
  if path == 'native' and supports(client, 'textDocument/inlineCompletion', bufnr) then
    vim.lsp.inline_completion.enable(M.enabled(bufnr), { bufnr = bufnr })
    local config = keymaps_config()
    keymaps.set(bufnr, config and { accept = config.accept } or false, {
      accept = function()
        return vim.lsp.inline_completion.get() and true or false
      end,
    })
    return 'ghost_text'
  end
  if path == 'extmarks' and client.server_capabilities.inlineCompletionProvider then
    local ghost = require('codestral.ghost')
    ghost.attach(bufnr)
    keymaps.set(bufnr, keymaps_config(), {
      accept = function()
        return ghost.accept('all')
      end,
      accept_word = function()
        return ghost.accept('word')
      end,
      accept_line = function()
        return ghost.accept('line')
      end,
      dismiss = ghost.dismiss,
      request = ghost.request_now,
    })
    return 'ghost_text'
  end
  if M.config.completion and vim.lsp.completion ~= nil and supports(client, 'textDocument/completion', bufnr) then
    vim.lsp.completion.enable(M.enabled(bufnr), client.id, bufnr, { autotrigger = M.config.autotrigger })
    vim.api.nvim_create_autocmd('CompleteDone', {
      group = augroup,
      buffer = bufnr,
      desc = 'codestral: insert the whole suggestion',
      callback = function()
        M.finish_completion(bufnr)
      end,
    })
    return 'completion'
  end
  return nil
end

--- Whether suggestions are on in `bufnr` (`:Codestral toggle` pauses them per buffer).
---@param bufnr integer?
function M.enabled(bufnr)
  return vim.b[bufnr or 0].codestral_enabled ~= false
end

--- `:Codestral toggle`: pause or resume suggestions in the buffer.
---@param bufnr integer?
---@return boolean enabled
function M.toggle(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local enabled = not M.enabled(bufnr)
  vim.b[bufnr].codestral_enabled = enabled
  local mode = vim.b[bufnr].codestral_completion
  if mode == 'ghost_text' and has_inline_completion() and M.ghost_path() == 'native' then
    vim.lsp.inline_completion.enable(enabled, { bufnr = bufnr })
  elseif mode == 'ghost_text' then
    require('codestral.ghost').clear(bufnr)
  elseif mode == 'completion' then
    local client = M.get_client(bufnr)
    if client then
      vim.lsp.completion.enable(enabled, client.id, bufnr, { autotrigger = M.config.autotrigger })
    end
  end
  notify(enabled and 'suggestions on in this buffer' or 'suggestions paused in this buffer')
  vim.cmd.redrawstatus()
  return enabled
end

--- After a codestral item was accepted from the completion menu: insert all of it.
---
--- Neovim 0.11 inserts a plain-text item only up to its first blank (`a + b` gives `a`) and
--- applies nothing more on CompleteDone, so a suggestion like `a + b` or one spanning several
--- lines would be cut.  The inserted word is the start of the item's textEdit.newText; it is
--- replaced by the whole text, and the cursor goes to its end.
---@param bufnr integer
---@return boolean replaced
function M.finish_completion(bufnr)
  if vim.v.event.reason ~= 'accept' then
    return false
  end
  local item = vim.v.completed_item
  local lsp = vim.tbl_get(item or {}, 'user_data', 'nvim', 'lsp') or {}
  local completion_item = lsp.completion_item
  local client = lsp.client_id and vim.lsp.get_client_by_id(lsp.client_id)
  if not completion_item or not client or client.name ~= M.name then
    return false
  end
  if completion_item.insertTextFormat == 2 then
    return false -- snippets are expanded by vim.lsp.completion itself
  end
  local new_text = vim.tbl_get(completion_item, 'textEdit', 'newText')
  local word = item.word or ''
  if type(new_text) ~= 'string' or new_text == word or not vim.startswith(new_text, word) then
    return false
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ''
  local start = col - #word
  if start < 0 or line:sub(start + 1, col) ~= word then
    return false
  end
  local lines = vim.split(new_text, '\r?\n')
  vim.api.nvim_buf_set_text(bufnr, row - 1, start, row - 1, col, lines)
  local end_row = row + #lines - 1
  local end_col = (#lines == 1 and start or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { end_row, end_col })
  return true
end

--- Handler of the `codestral/status` notification.
function M.on_status(err, result, ctx)
  if err or type(result) ~= 'table' or type(result.state) ~= 'string' then
    return
  end
  local previous = M.statuses[ctx.client_id]
  M.statuses[ctx.client_id] = result
  if result.state == 'excluded' or result.state == 'disabled' then
    -- Stop asking in that buffer: the one named, else the one whose request is under way.
    local ghost = package.loaded['codestral.ghost']
    local bufnr = ghost and ghost.asking(ctx.client_id)
    if type(result.uri) == 'string' then
      bufnr = nil
      for _, candidate in ipairs(vim.api.nvim_list_bufs()) do
        if vim.uri_from_bufnr(candidate) == result.uri then
          bufnr = candidate
        end
      end
    end
    if bufnr and bufnr > 0 and vim.api.nvim_buf_is_valid(bufnr) then
      vim.b[bufnr].codestral_excluded = true
      if ghost then
        ghost.clear(bufnr)
      end
    end
  end
  if M.config.notify_status and (not previous or previous.state ~= result.state) then
    if result.state == 'error' or result.state == 'unauthorized' or result.state == 'rateLimited' then
      notify(result.message or result.state, vim.log.levels.WARN)
    end
  end
  vim.api.nvim_exec_autocmds('User', { pattern = 'CodestralStatus', modeline = false, data = result })
end

--- One line describing a status payload.
---@param status table?
---@return string
function M.format_status(status)
  if not status then
    return 'no status yet'
  end
  local parts = { status.state }
  if status.model and status.model ~= vim.NIL then
    parts[#parts + 1] = status.model
  end
  local line = table.concat(parts, ' · ')
  if status.message and status.message ~= vim.NIL and status.message ~= '' then
    line = line .. ': ' .. status.message
  end
  if status.retryAfter and status.retryAfter ~= vim.NIL then
    line = line .. string.format(' (retry in %d s)', math.ceil(status.retryAfter))
  end
  return line
end

--- A short statusline component, e.g. `Codestral: codestral-latest`.
---@return string
function M.statusline()
  local client = M.get_client()
  if not client then
    return ''
  end
  local paused = M.enabled(0) and '' or ' (paused)'
  local status = M.statuses[client.id]
  if not status then
    return 'Codestral' .. paused
  end
  local marks = { working = '…', error = ' !', unauthorized = ' (no key)', rateLimited = ' (rate limited)', disabled = ' (off)', excluded = ' (excluded)' }
  return 'Codestral: ' .. (status.model ~= vim.NIL and status.model or '?') .. (marks[status.state] or '') .. paused
end

--- Run a server command (`workspace/executeCommand` with one argument object).
---@param client vim.lsp.Client
---@param command string
---@param args table?
---@param callback fun(err: table?, result: any)
function M.execute(client, command, args, callback)
  -- An empty Lua table would be sent as a JSON array; the server wants an object.
  if args == nil or next(args) == nil then
    args = vim.empty_dict()
  end
  local params = { command = command, arguments = { args } }
  M.call(client, 'request', 'workspace/executeCommand', params, function(err, result)
    callback(err, result)
  end, vim.api.nvim_get_current_buf())
end

local function require_client()
  local client = M.get_client()
  if not client then
    notify('codestral-ls is not running for this buffer (see :checkhealth codestral)', vim.log.levels.ERROR)
  end
  return client
end

--- `:Codestral status`: the last codestral/status (asks the server when none arrived yet).
---@param callback fun(line: string)?
function M.show_status(callback)
  local client = require_client()
  if not client then
    return
  end
  local function show(status)
    local line = M.format_status(status)
    notify(line)
    if callback then
      callback(line)
    end
  end
  if M.statuses[client.id] then
    return show(M.statuses[client.id])
  end
  M.execute(client, M.protocol.status, nil, function(err, result)
    if err then
      return notify('status: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
    if type(result) == 'table' and result.state then
      M.statuses[client.id] = result
    end
    show(type(result) == 'table' and result or nil)
  end)
end

--- `:Codestral stats`: the one-line summary of the acceptance statistics (docs/stats.md).
---@param callback fun(line: string)?
function M.show_stats(callback)
  local client = require_client()
  if not client then
    return
  end
  M.execute(client, M.protocol.stats, { sinceDays = 7 }, function(err, result)
    if err then
      return notify('stats: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
    local summary = type(result) == 'table' and type(result.summary) == 'string' and result.summary or 'no statistics'
    local line = summary:gsub('^Codestral: ', '')
    if type(result) == 'table' and result.telemetry == false then
      line = line .. ' (recording is off: telemetry = false)'
    end
    notify(line)
    if callback then
      callback(line)
    end
  end)
end

--- Entries of the model picker from a `codestral.listModels` result.
---@param result table
---@param kind 'completion'|'chat'
---@return table[] models able to do `kind`, the one in use first
function M.model_choices(result, kind)
  local current = kind == 'chat' and result.chatModel or result.completionModel
  local capability = kind == 'chat' and 'chat' or 'fim'
  local choices = {}
  for index, model in ipairs(result.models or {}) do
    if model[capability] == true then
      local in_use = vim.tbl_contains(type(model.inUse) == 'table' and model.inUse or {}, kind)
        or model.id == current
        or vim.tbl_contains(type(model.aliases) == 'table' and model.aliases or {}, current)
      choices[#choices + 1] = { model = model, in_use = in_use, index = index }
    end
  end
  table.sort(choices, function(a, b)
    if a.in_use ~= b.in_use then
      return a.in_use
    end
    local a_old = a.model.deprecation ~= nil and a.model.deprecation ~= vim.NIL
    local b_old = b.model.deprecation ~= nil and b.model.deprecation ~= vim.NIL
    if a_old ~= b_old then
      return b_old
    end
    return a.index < b.index
  end)
  return choices
end

--- How a picker entry reads.
function M.format_choice(choice)
  local model = choice.model
  local text = model.id
  local aliases = type(model.aliases) == 'table' and model.aliases or {}
  if #aliases > 0 then
    text = text .. ' (' .. table.concat(aliases, ', ') .. ')'
  end
  if type(model.contextLength) == 'number' then
    text = text .. string.format(' · %dk context', math.floor(model.contextLength / 1000 + 0.5))
  end
  if model.deprecation and model.deprecation ~= vim.NIL then
    text = text .. ' · deprecated ' .. tostring(model.deprecation):sub(1, 10)
  end
  if choice.in_use then
    text = text .. ' · in use'
  end
  return text
end

--- `:Codestral model [chat]`: pick the model with vim.ui.select, then codestral.selectModel.
---@param kind 'completion'|'chat'|nil
---@param on_done fun(result: table?)? called with the selectModel result (nil if dismissed)
function M.pick_model(kind, on_done)
  kind = kind or 'completion'
  local client = require_client()
  if not client then
    return
  end
  local done = on_done or function() end
  M.execute(client, M.protocol.list_models, {}, function(err, result)
    if err then
      notify('could not list the models: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return done(nil)
    end
    local choices = M.model_choices(result or {}, kind)
    if #choices == 0 then
      notify(
        string.format('%s offers no %s model', result and result.endpoint or 'the endpoint', kind == 'chat' and 'chat' or 'fill-in-the-middle'),
        vim.log.levels.WARN
      )
      return done(nil)
    end
    vim.ui.select(choices, {
      prompt = kind == 'chat' and 'Codestral chat model' or 'Codestral completion model',
      format_item = M.format_choice,
      kind = 'codestral.model',
    }, function(choice)
      if not choice then
        return done(nil)
      end
      M.execute(client, M.protocol.select_model, { model = choice.model.id, kind = kind }, function(select_err, selected)
        if select_err then
          notify('could not select ' .. choice.model.id .. ': ' .. (select_err.message or ''), vim.log.levels.ERROR)
          return done(nil)
        end
        if type(selected) == 'table' then
          notify(string.format('%s model: %s', kind, selected.model))
        end
        done(type(selected) == 'table' and selected or nil)
      end)
    end)
  end)
end

--- The LSP range of lines `line1`..`line2` (1-based, whole lines), or of the last charwise
--- visual selection when it covers exactly those lines.
---@param bufnr integer
---@param line1 integer
---@param line2 integer
---@param encoding string
---@return table range
function M.edit_range(bufnr, line1, line2, encoding)
  local start_mark = vim.api.nvim_buf_get_mark(bufnr, '<')
  local end_mark = vim.api.nvim_buf_get_mark(bufnr, '>')
  local charwise = vim.fn.visualmode() == 'v' and start_mark[1] == line1 and end_mark[1] == line2
  if charwise then
    return vim.lsp.util.make_given_range_params(start_mark, end_mark, bufnr, encoding).range
  end
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
  local character = vim.lsp.util.character_offset(bufnr, line2 - 1, #last, encoding)
  return {
    start = { line = line1 - 1, character = 0 },
    ['end'] = { line = line2 - 1, character = character },
  }
end

--- `:[range]Codestral edit {instruction}`: rewrite the lines (or visual selection).
---@param instruction string
---@param line1 integer
---@param line2 integer
---@param on_done fun(result: table?)?
function M.edit(instruction, line1, line2, on_done)
  local done = on_done or function() end
  instruction = vim.trim(instruction or '')
  if instruction == '' then
    notify('say what to change, e.g. :Codestral edit add type hints', vim.log.levels.ERROR)
    return done(nil)
  end
  local client = require_client()
  if not client then
    return done(nil)
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local args = {
    uri = vim.uri_from_bufnr(bufnr),
    range = M.edit_range(bufnr, line1, line2, client.offset_encoding),
    instruction = instruction,
  }
  notify('editing…')
  M.execute(client, M.protocol.edit, args, function(err, result)
    if err then
      notify('edit failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return done(nil)
    end
    if type(result) == 'table' and result.applied == false then
      notify(result.message or 'the edit was not applied', vim.log.levels.WARN)
    end
    done(result)
  end)
end

--- Stop the codestral-ls clients and start them again for the open buffers.
function M.restart()
  local clients = vim.lsp.get_clients({ name = M.name })
  for _, client in ipairs(clients) do
    M.call(client, 'stop')
  end
  local stopped = vim.wait(3000, function()
    return #vim.lsp.get_clients({ name = M.name }) == 0
  end, 20)
  if not stopped then
    for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
      M.call(client, 'stop', true)
    end
  end
  M.statuses = {}
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    vim.b[bufnr].codestral_excluded = nil
  end
  vim.cmd.doautoall({ args = { HAS_011 and 'nvim.lsp.enable' or 'codestral', 'FileType' }, mods = { silent = true } })
end

--- `:Codestral {subcommand}`.
function M.command(opts)
  local sub, rest = (opts.args or ''):match('^%s*(%S*)%s*(.-)%s*$')
  if sub == 'model' then
    return M.pick_model(rest == 'chat' and 'chat' or 'completion')
  elseif sub == 'status' then
    return M.show_status()
  elseif sub == 'stats' then
    return M.show_stats()
  elseif sub == 'edit' then
    local line1, line2 = opts.line1, opts.line2
    if opts.range == 0 then
      line1 = vim.fn.line('.')
      line2 = line1
    end
    return M.edit(rest, line1, line2)
  elseif sub == 'toggle' then
    return M.toggle(0)
  elseif sub == 'restart' then
    return M.restart()
  elseif sub == 'log' then
    return vim.cmd.edit(vim.fn.fnameescape(vim.lsp.log.get_filename()))
  end
  notify('usage: :Codestral model [chat] | status | stats | [range]edit {instruction} | toggle | restart | log', vim.log.levels.ERROR)
end

M.subcommands = { 'model', 'status', 'stats', 'edit', 'toggle', 'restart', 'log' }

function M.complete(arglead, cmdline)
  if cmdline:match('^%S*%s+%S*$') then
    return vim.tbl_filter(function(name)
      return vim.startswith(name, arglead)
    end, M.subcommands)
  end
  if cmdline:match('model%s+%S*$') then
    return { 'completion', 'chat' }
  end
  return {}
end

--- Configure and enable codestral-ls.
---@param opts codestral.Config?
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  local lsp_config = {
    settings = { codestral = vim.deepcopy(M.config.settings or {}) },
    root_markers = M.config.root_markers,
  }
  if M.config.cmd then
    lsp_config.cmd = M.config.cmd
  end
  if M.config.cmd_env then
    lsp_config.cmd_env = M.config.cmd_env
  end
  if M.config.filetypes then
    lsp_config.filetypes = M.config.filetypes
  end
  if M.ghost_path() == 'extmarks' then
    -- Announce inline completion, as 0.12 does: the server then answers it, and offers no
    -- completion items on top of the ghost text.
    lsp_config.capabilities = { textDocument = { inlineCompletion = { dynamicRegistration = false } } }
  end
  if HAS_011 then
    vim.lsp.config(M.name, lsp_config)
  end

  vim.api.nvim_clear_autocmds({ group = augroup })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = augroup,
    callback = function(event)
      local client = vim.lsp.get_client_by_id(event.data.client_id)
      if client and client.name == M.name then
        -- 'ghost_text', 'completion' or false: for statuslines and `:checkhealth`.
        vim.b[event.buf].codestral_completion = M.enable_completion(client, event.buf) or false
      end
    end,
  })
  vim.api.nvim_create_autocmd('LspDetach', {
    group = augroup,
    callback = function(event)
      local client = vim.lsp.get_client_by_id(event.data.client_id)
      if client and client.name == M.name then
        local ghost = package.loaded['codestral.ghost']
        if ghost then
          ghost.detach(event.buf)
        end
        require('codestral.keymaps').unset(event.buf)
        if #vim.lsp.get_clients({ id = client.id }) == 0 then
          M.statuses[client.id] = nil
        end
      end
    end,
  })
  if HAS_011 then
    vim.lsp.enable(M.name)
  else
    M.start_on_filetype(lsp_config)
  end
end

--- Neovim 0.10 (no vim.lsp.config/enable): start the client on FileType with vim.lsp.start,
--- from `lsp/codestral_ls.lua` merged with the setup() options.
---@param lsp_config table
function M.start_on_filetype(lsp_config)
  local file = vim.api.nvim_get_runtime_file('lsp/codestral_ls.lua', false)[1]
  local base = file and dofile(file) or {}
  local config = vim.tbl_deep_extend('force', base, lsp_config)
  config.name = M.name
  config.capabilities = vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), config.capabilities or {})
  local filetypes, markers = config.filetypes, config.root_markers or { '.git' }
  config.filetypes, config.root_markers, config.workspace_required = nil, nil, nil
  vim.api.nvim_create_autocmd('FileType', {
    group = augroup,
    desc = 'codestral: start codestral-ls',
    callback = function(event)
      if vim.bo[event.buf].buftype ~= '' or (filetypes and not vim.tbl_contains(filetypes, vim.bo[event.buf].filetype)) then
        return
      end
      local root = vim.fs.root(event.buf, markers) or vim.fn.getcwd()
      vim.lsp.start(vim.tbl_extend('force', config, { root_dir = root }), { bufnr = event.buf })
    end,
  })
  vim.cmd.doautoall({ args = { 'codestral', 'FileType' }, mods = { silent = true } })
end

return M
