-- Drives a headless Neovim through one scenario of tests/editors/test_nvim.py.
--
-- Run as: nvim --headless --clean -n --cmd 'set rtp^=editors/nvim' -c 'luafile nvim_driver.lua'
-- with CODESTRAL_TEST_CONFIG naming a JSON file: {scenario, result, cmd, settings, file, ...}.
-- Writes what it saw as JSON to `result` and quits.  Every wait is vim.wait on a condition.

local config = vim.json.decode(table.concat(vim.fn.readfile(vim.env.CODESTRAL_TEST_CONFIG), '\n'))
local results = { notes = {} }
local WAIT = config.wait_ms or 15000

vim.notify = function(message, level)
  table.insert(results.notes, { message = message, level = level })
end

local function keys(text)
  return vim.api.nvim_replace_termcodes(text, true, false, true)
end

local function wait_for(what, predicate, timeout)
  if not vim.wait(timeout or WAIT, predicate, 10) then
    error('timed out waiting for ' .. what, 2)
  end
end

local function has_note(pattern)
  for _, note in ipairs(results.notes) do
    if note.message:find(pattern) then
      return true
    end
  end
  return false
end

--- Set up the plugin (unless `plain`), open the file and wait for the initialised client.
local function attach(plain)
  if not plain then
    -- Completion items unless the scenario asks for ghost text (test_nvim_ghost.py covers it).
    require('codestral').setup({ cmd = config.cmd, settings = config.settings or {}, ghost_text = config.ghost_text == true })
  end
  vim.cmd.edit(vim.fn.fnameescape(config.file))
  local bufnr = vim.api.nvim_get_current_buf()
  local client
  wait_for('the client to attach', function()
    client = vim.lsp.get_clients({ bufnr = bufnr, name = 'codestral_ls' })[1]
    return client ~= nil and client.initialized == true
  end)
  results.client = {
    name = client.name,
    offset_encoding = client.offset_encoding,
    filetype = vim.bo[bufnr].filetype,
    inline_completion = client.server_capabilities.inlineCompletionProvider ~= nil,
    completion = client.server_capabilities.completionProvider ~= nil,
  }
  return client, bufnr
end

--- Call `done()` on the main loop once `predicate()` holds (or after WAIT ms).  For use
--- inside insert mode, where vim.wait cannot be used; a flag keeps queued ticks from firing twice.
local function poll(predicate, done)
  local started = vim.uv.now()
  local finished = false
  local timer = assert(vim.uv.new_timer())
  timer:start(10, 10, vim.schedule_wrap(function()
    if finished then
      return
    end
    if predicate() or vim.uv.now() - started > WAIT then
      finished = true
      timer:stop()
      timer:close()
      done()
    end
  end))
end

--- Enter insert mode at the end of `row` (1-based), ask for completion the way a user does
--- (vim.lsp.completion.get(), which the plugin enabled) and return what the menu received;
--- with `accept`, accept the item with <C-y> and record the lines from `row` on.
--- Insert mode runs inside feedkeys(..., 'x!'); the polls leave it with <Esc>.
local function complete_at_end_of(row, accept)
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  local seen = {}
  vim.schedule(function()
    seen.mode = vim.api.nvim_get_mode().mode
    vim.lsp.completion.get()
    poll(function()
      return #vim.fn.complete_info({ 'items' }).items > 0
    end, function()
      local info = vim.fn.complete_info({ 'items' })
      seen.items = {}
      for _, item in ipairs(info.items) do
        local lsp_item = vim.tbl_get(item, 'user_data', 'nvim', 'lsp', 'completion_item') or {}
        table.insert(seen.items, {
          word = item.word,
          abbr = item.abbr,
          menu = item.menu,
          new_text = vim.tbl_get(lsp_item, 'textEdit', 'newText'),
        })
      end
      seen.line = vim.api.nvim_get_current_line()
      if not (accept and #info.items > 0) then
        return vim.api.nvim_feedkeys(keys('<C-e><Esc>'), 'n', false)
      end
      -- Headless Neovim draws no popup menu, so <C-y> accepts the item and then also copies
      -- the character above the cursor (its meaning without a menu).  The lines are taken in
      -- CompleteDone, after the plugin's handler (defined earlier, so run first) and before
      -- that extra character.
      local done = false
      local group = vim.api.nvim_create_augroup('codestral_test_accept', { clear = true })
      vim.api.nvim_create_autocmd('CompleteDone', {
        group = group,
        callback = function()
          seen.reason = vim.v.event.reason
          seen.accepted = vim.api.nvim_buf_get_lines(0, row - 1, -1, false)
          seen.cursor = vim.api.nvim_win_get_cursor(0)
          done = true
        end,
      })
      vim.api.nvim_feedkeys(keys('<C-y>'), 'n', false)
      poll(function()
        return done
      end, function()
        vim.api.nvim_del_augroup_by_id(group)
        vim.api.nvim_feedkeys(keys('<Esc>'), 'n', false)
      end)
    end)
  end)
  vim.api.nvim_feedkeys(keys('A'), 'x!', false)
  return seen
end

local scenarios = {}

function scenarios.complete()
  local client, bufnr = attach()
  results.mode = vim.b[bufnr].codestral_completion
  wait_for('the first codestral/status', function()
    return require('codestral').statuses[client.id] ~= nil
  end)
  results.notified_status = require('codestral').statuses[client.id]
  results.completions = {}
  for _, row in ipairs(config.rows) do
    table.insert(results.completions, complete_at_end_of(row, config.accept))
  end
  results.statusline = require('codestral').statusline()
  vim.cmd('Codestral status')
  wait_for('the status message', function()
    return has_note('ready')
  end)
end

function scenarios.model()
  local client = attach()
  results.before = complete_at_end_of(config.rows[1])
  vim.ui.select = function(items, opts, on_choice)
    results.prompt = opts.prompt
    results.choices = {}
    results.labels = {}
    local chosen
    for _, item in ipairs(items) do
      table.insert(results.choices, item.model.id)
      table.insert(results.labels, opts.format_item(item))
      if item.model.id == config.select_model then
        chosen = item
      end
    end
    on_choice(chosen)
  end
  vim.cmd('Codestral model')
  wait_for('the model to be selected', function()
    return has_note('completion model: ')
  end)
  results.after = complete_at_end_of(config.rows[1])
  results.status_model = (require('codestral').statuses[client.id] or {}).model
end

function scenarios.edit()
  local _, bufnr = attach()
  local before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  if config.visual then
    -- A characterwise selection made as a user does (sets '< '> and visualmode()).
    local from, to = config.visual[1], config.visual[2]
    vim.api.nvim_win_set_cursor(0, { from[1], from[2] })
    vim.cmd('normal! v')
    vim.api.nvim_win_set_cursor(0, { to[1], to[2] })
    vim.cmd('normal! ' .. keys('<Esc>'))
  end
  local codestral = require('codestral')
  local execute = codestral.execute
  codestral.execute = function(client, command, args, callback)
    if command == codestral.protocol.edit then
      results.edit_args = args
    end
    return execute(client, command, args, callback)
  end
  vim.cmd(config.command)
  wait_for('the edit to be applied', function()
    return not vim.deep_equal(before, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
      or has_note('edit failed')
      or has_note('not applied')
  end)
  results.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

function scenarios.lsp_only()
  -- The lsp/codestral_ls.lua config alone, as `vim.lsp.enable('codestral_ls')` users have it.
  vim.lsp.config('codestral_ls', { cmd = config.cmd, settings = { codestral = config.settings or {} } })
  vim.lsp.enable('codestral_ls')
  local client, bufnr = attach(true)
  local merged = vim.lsp.config.codestral_ls
  results.config = { root_markers = merged.root_markers, has_status_handler = merged.handlers['codestral/status'] ~= nil }
  wait_for('the first codestral/status', function()
    return require('codestral').statuses[client.id] ~= nil
  end)
  local row = config.rows[1]
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row - 1, character = vim.lsp.util.character_offset(bufnr, row - 1, #line, client.offset_encoding) },
  }
  local response = client:request_sync('textDocument/completion', params, WAIT, bufnr)
  results.items = {}
  for _, item in ipairs(((response or {}).result or {}).items or {}) do
    table.insert(results.items, item.textEdit and item.textEdit.newText or item.insertText or item.label)
  end
end

function scenarios.health()
  if config.setup ~= false then
    require('codestral').setup({ cmd = config.cmd, settings = config.settings or {}, ghost_text = config.ghost_text })
  end
  vim.cmd('checkhealth codestral')
  results.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

local ok, err = xpcall(scenarios[config.scenario], debug.traceback)
if not ok then
  results.error = err
end
for _, client in ipairs(vim.lsp.get_clients()) do
  client:stop()
end
vim.wait(3000, function()
  return #vim.lsp.get_clients() == 0
end, 10)
vim.fn.writefile({ vim.json.encode(results) }, config.result)
vim.cmd('qa!')
