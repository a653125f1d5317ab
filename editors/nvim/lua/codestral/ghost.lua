--- Ghost text drawn by the plugin on Neovim 0.10/0.11 (0.12+ uses vim.lsp.inline_completion).
---
--- The plugin asks the server for `textDocument/inlineCompletion` itself on TextChangedI and
--- CursorMovedI (the server debounces; no second debounce here) and draws the first item with
--- one extmark in its own namespace: the first line inline at the cursor, the other lines as
--- virt_lines, in the highlight group `CodestralGhostText` (linked to `Comment`).
---
--- Per buffer it keeps one state: the request in flight (with the changedtick and cursor it was
--- made for: any other answer is stale and dropped) and the suggestion shown, anchored at the
--- changedtick, cursor and line it was drawn for.  Typing the next characters of the suggestion
--- moves the anchor and trims the text locally: no new request, no flicker.

local M = {}

M.ns = vim.api.nvim_create_namespace('codestral_ghost')
M.hl_group = 'CodestralGhostText'

--- LSP triggerKind values.
M.INVOKED = 1
M.AUTOMATIC = 2

local METHOD = 'textDocument/inlineCompletion'

--- Buffer states, by buffer number.
---@type table<integer, table>
M.buffers = {}

--- Counters for tests and the benchmark: requests sent, answers drawn, answers to requests
--- cancelled or replaced since (superseded), answers for an older buffer state or cursor
--- (stale), typed-through characters, accepts.
M.stats = { requests = 0, drawn = 0, superseded = 0, stale = 0, typed_through = 0, accepted = 0 }

local function codestral()
  return require('codestral')
end

function M.define_highlight()
  vim.api.nvim_set_hl(0, M.hl_group, { link = 'Comment', default = true })
end

local function state(bufnr)
  local st = M.buffers[bufnr]
  if not st then
    st = {}
    M.buffers[bufnr] = st
  end
  return st
end

local function client_request(client, method, params, handler, bufnr)
  return codestral().call(client, 'request', method, params, handler, bufnr)
end

local function client_cancel(client, id)
  return codestral().call(client, 'cancel_request', id)
end

--- Row (0-based), byte column and changedtick of the cursor in the current window.
local function here(bufnr)
  local cursor = vim.api.nvim_win_get_cursor(0)
  return cursor[1] - 1, cursor[2], vim.api.nvim_buf_get_changedtick(bufnr)
end

local function line_at(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
end

--- Whether the buffer is paused with `:Codestral toggle`.
function M.enabled(bufnr)
  return vim.b[bufnr].codestral_enabled ~= false
end

--- Why no suggestion may be asked for in `bufnr` now, or nil.
---@return string?
function M.blocked(bufnr)
  if not M.enabled(bufnr) then
    return 'paused'
  end
  local buftype = vim.bo[bufnr].buftype
  if buftype == 'prompt' or buftype == 'terminal' then
    return buftype
  end
  if vim.b[bufnr].codestral_excluded then
    return 'excluded'
  end
  if vim.fn.pumvisible() == 1 and not codestral().config.ghost_text_with_menu then
    return 'menu'
  end
  local mode = vim.api.nvim_get_mode().mode
  if mode:sub(1, 1) ~= 'i' then
    return 'mode'
  end
  return nil
end

--- Is a suggestion shown in `bufnr` (default: current) at the cursor?
function M.visible(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = M.buffers[bufnr]
  if not st or not st.shown or vim.api.nvim_get_current_buf() ~= bufnr then
    return false
  end
  local row, col, tick = here(bufnr)
  local shown = st.shown
  return shown.row == row and shown.col == col and shown.tick == tick
end

--- The text shown in `bufnr` (default: current), or nil.
function M.text(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = M.buffers[bufnr]
  return st and st.shown and st.shown.text or nil
end

--- How a line of suggestion is displayed: tabs as spaces (virtual text shows no tab stops).
local function display(text, bufnr)
  if not text:find('\t', 1, true) then
    return text
  end
  return (text:gsub('\t', string.rep(' ', vim.bo[bufnr].tabstop)))
end

--- Draw (or redraw in place) the suggestion of `st.shown`.
local function draw(bufnr, st)
  local shown = st.shown
  local lines = vim.split(shown.text, '\r?\n')
  local opts = {
    id = st.mark,
    right_gravity = false,
    hl_mode = 'combine',
    priority = 200,
  }
  if lines[1] ~= '' then
    opts.virt_text = { { display(lines[1], bufnr), M.hl_group } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    local virt_lines = {}
    for index = 2, #lines do
      virt_lines[#virt_lines + 1] = { { display(lines[index], bufnr), M.hl_group } }
    end
    opts.virt_lines = virt_lines
  end
  st.mark = vim.api.nvim_buf_set_extmark(bufnr, M.ns, shown.row, shown.col, opts)
end

--- Remove the suggestion of `bufnr` and forget the request in flight.
function M.clear(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local st = M.buffers[bufnr]
  if not st then
    return
  end
  if st.pending then
    local client = vim.lsp.get_client_by_id(st.pending.client_id)
    if client then
      pcall(client_cancel, client, st.pending.id)
    end
    st.pending = nil
  end
  st.shown = nil
  st.mark = nil
  st.asked = nil
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- Show `text` at the cursor as the suggestion of `bufnr`; `accepted` is what tells the
--- server about an accept (the item's `codestral.didAccept` command, docs/stats.md).
local function show(bufnr, st, text, accepted)
  local row, col, tick = here(bufnr)
  local line = line_at(bufnr, row)
  st.shown = {
    row = row,
    col = col,
    tick = tick,
    text = text,
    before = line:sub(1, col),
    after = line:sub(col + 1),
    accepted = accepted,
  }
  draw(bufnr, st)
end

--- The suggestion id of an inline completion answer's first item (its `codestral.didAccept`
--- command's argument), or nil.
---@param result any
---@return string?
function M.item_id(result)
  if type(result) ~= 'table' then
    return nil
  end
  local items = result.items or result
  local item = type(items) == 'table' and items[1] or nil
  local command = type(item) == 'table' and item.command or nil
  if type(command) ~= 'table' or command.command ~= codestral().protocol.did_accept then
    return nil
  end
  local argument = type(command.arguments) == 'table' and command.arguments[1] or nil
  if type(argument) ~= 'table' or type(argument.id) ~= 'string' then
    return nil
  end
  return argument.id
end

--- Tell the server that `part` of the suggestion `accepted` was inserted (all of it, or a
--- word or line of it: `partial`).
local function report_accept(accepted, part, partial)
  if not accepted then
    return
  end
  local client = vim.lsp.get_client_by_id(accepted.client_id)
  if not client then
    return
  end
  local chars = vim.fn.strchars(part)
  local args = { id = accepted.id }
  if partial then
    args.partial = chars
  else
    args.chars = chars
  end
  pcall(codestral().execute, client, codestral().protocol.did_accept, args, function() end)
end

--- The text of the first item of an inline completion answer, or nil.
---@param result any
---@param position table the position the request was made for
---@return string?
function M.item_text(result, position)
  if type(result) ~= 'table' then
    return nil
  end
  local items = result.items or result
  local item = type(items) == 'table' and items[1] or nil
  if type(item) ~= 'table' or type(item.insertText) ~= 'string' then
    return nil -- no item, or a snippet: not drawn
  end
  local range = item.range
  if type(range) == 'table' then
    -- Only an insertion at the cursor is drawn; anything else might be wrong: dropped.
    local s, e = range.start or {}, range['end'] or {}
    if s.line ~= position.line or e.line ~= position.line or s.character ~= position.character or e.character ~= position.character then
      return nil
    end
  end
  if item.insertText == '' then
    return nil
  end
  return item.insertText
end

--- Ask the server for a suggestion at the cursor of `bufnr` (the current buffer).
---@param bufnr integer
---@param kind integer? triggerKind (default Automatic)
function M.request(bufnr, kind)
  local client = codestral().get_client(bufnr)
  if not client or client.name ~= codestral().name then
    return
  end
  local st = state(bufnr)
  if st.pending then
    pcall(client_cancel, client, st.pending.id)
    st.pending = nil
  end
  local row, col, tick = here(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind or M.AUTOMATIC }
  local pending = { client_id = client.id, row = row, col = col, tick = tick }
  st.asked = { row = row, col = col, tick = tick }
  local ok, id = client_request(client, METHOD, params, function(err, result)
    M.on_answer(bufnr, pending, err, result, params.position)
  end, bufnr)
  if ok and id then
    pending.id = id
    st.pending = pending
    M.stats.requests = M.stats.requests + 1
  end
end

--- An answer arrived for `pending`.
function M.on_answer(bufnr, pending, err, result, position)
  local st = M.buffers[bufnr]
  if not st or st.pending ~= pending then
    M.stats.superseded = M.stats.superseded + 1
    return -- cancelled or superseded
  end
  st.pending = nil
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local row, col, tick = here(bufnr)
  if tick ~= pending.tick or row ~= pending.row or col ~= pending.col then
    M.stats.stale = M.stats.stale + 1
    return -- made for an older buffer state: never drawn
  end
  local text = (not err and M.blocked(bufnr) == nil) and M.item_text(result, position) or nil
  if not text then
    M.clear(bufnr)
    return
  end
  local id = M.item_id(result)
  show(bufnr, st, text, id and { id = id, client_id = pending.client_id } or nil)
  M.stats.drawn = M.stats.drawn + 1
end

--- If the text typed since the suggestion was drawn is its beginning, keep the rest shown.
---@return boolean kept
local function type_through(bufnr, st, row, col, tick)
  local shown = st.shown
  if not shown or row ~= shown.row or col <= shown.col then
    return false
  end
  local line = line_at(bufnr, row)
  local typed = line:sub(shown.col + 1, col)
  if line:sub(1, shown.col) ~= shown.before or line:sub(col + 1) ~= shown.after then
    return false
  end
  if typed:find('\n', 1, true) or #typed >= #shown.text or shown.text:sub(1, #typed) ~= typed then
    return false
  end
  shown.text = shown.text:sub(#typed + 1)
  shown.col = col
  shown.tick = tick
  shown.before = line:sub(1, col)
  M.stats.typed_through = M.stats.typed_through + #typed
  draw(bufnr, st)
  return true
end

--- TextChangedI / CursorMovedI (and TextChangedP when opted in): keep, trim or clear the
--- suggestion and ask for a new one when the buffer or the cursor changed.
function M.on_change(bufnr)
  local st = state(bufnr)
  local row, col, tick = here(bufnr)
  local shown = st.shown
  if shown and shown.row == row and shown.col == col and shown.tick == tick then
    return -- nothing changed since it was drawn (both events fire for one key)
  end
  local asked = st.asked
  if not shown and asked and asked.row == row and asked.col == col and asked.tick == tick then
    return -- already asked for this state
  end
  if M.blocked(bufnr) then
    M.clear(bufnr)
    return
  end
  if shown and type_through(bufnr, st, row, col, tick) then
    if st.pending then
      M.clear_pending(bufnr)
    end
    st.asked = { row = row, col = col, tick = tick }
    return
  end
  if shown then
    -- Moved or edited elsewhere: the old suggestion goes at once.
    st.shown = nil
    st.mark = nil
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
  M.request(bufnr, M.AUTOMATIC)
end

--- The buffer with a request of `client_id` under way, or nil.
function M.asking(client_id)
  for bufnr, st in pairs(M.buffers) do
    if st.pending and st.pending.client_id == client_id then
      return bufnr
    end
  end
  return nil
end

--- Forget the request in flight (its answer will be dropped).
function M.clear_pending(bufnr)
  local st = M.buffers[bufnr]
  if st and st.pending then
    local client = vim.lsp.get_client_by_id(st.pending.client_id)
    if client then
      pcall(client_cancel, client, st.pending.id)
    end
    st.pending = nil
  end
end

--- The part of `text` an accept of `kind` takes.
---@param text string
---@param kind 'all'|'word'|'line'
---@return string
function M.take(text, kind)
  if kind == 'all' then
    return text
  end
  local first, rest = text:match('^([^\n]*)(.*)$')
  if first == '' then
    -- At the end of a line: the line break and the next line's indentation (and, for a line,
    -- the next line).
    local after = rest:sub(2)
    local piece = kind == 'line' and after:match('^[^\n]*') or after:match('^%s*[^%s%w_]*[%w_]*')
    return '\n' .. (piece or '')
  end
  if kind == 'line' then
    return first
  end
  -- A word: blanks and punctuation, then word characters; at least one character.
  local word = first:match('^[^%w_]*[%w_]*')
  if word == nil or word == '' then
    word = first:sub(1, 1)
  end
  return word
end

--- Lines of `text` with leading tabs as spaces when the buffer uses 'expandtab'.
local function indent_for(bufnr, text)
  if not vim.bo[bufnr].expandtab or not text:find('\n\t', 1, true) then
    return text
  end
  local width = vim.fn.shiftwidth()
  return (text:gsub('\n(\t+)', function(tabs)
    return '\n' .. string.rep(' ', #tabs * width)
  end))
end

--- Insert all, the next word or the next line of the suggestion at the cursor.
---@param kind 'all'|'word'|'line'|nil
---@return boolean accepted
function M.accept(kind)
  kind = kind or 'all'
  local bufnr = vim.api.nvim_get_current_buf()
  if not M.visible(bufnr) then
    return false
  end
  local st = M.buffers[bufnr]
  local shown = st.shown
  local part = M.take(shown.text, kind)
  local rest = shown.text:sub(#part + 1)
  local lines = vim.split(indent_for(bufnr, part), '\n', { plain = true })
  M.clear_pending(bufnr)
  -- One undo step for the whole insertion, apart from what was typed before it.
  vim.cmd('let &l:undolevels = &l:undolevels')
  vim.api.nvim_buf_set_text(bufnr, shown.row, shown.col, shown.row, shown.col, lines)
  local end_row = shown.row + #lines - 1
  local end_col = (#lines == 1 and shown.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  M.stats.accepted = M.stats.accepted + 1
  report_accept(shown.accepted, part, kind ~= 'all')
  if rest ~= '' then
    show(bufnr, st, rest, shown.accepted)
    st.asked = { row = st.shown.row, col = st.shown.col, tick = st.shown.tick }
  else
    st.shown = nil
    st.mark = nil
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
    local row, col, tick = here(bufnr)
    -- Nothing is asked at the end of an accepted suggestion until the next change.
    st.asked = { row = row, col = col, tick = tick }
  end
  return true
end

--- Hide the suggestion (the next change asks again).
---@return boolean dismissed whether one was shown
function M.dismiss()
  local bufnr = vim.api.nvim_get_current_buf()
  local was = M.visible(bufnr)
  local st = M.buffers[bufnr]
  M.clear(bufnr)
  if st then
    local row, col, tick = here(bufnr)
    st.asked = { row = row, col = col, tick = tick }
  end
  return was
end

--- Ask now, skipping the server's debounce (triggerKind Invoked).
function M.request_now()
  local bufnr = vim.api.nvim_get_current_buf()
  local st = state(bufnr)
  st.shown = nil
  st.mark = nil
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local reason = M.blocked(bufnr)
  if reason and reason ~= 'menu' then
    return
  end
  M.request(bufnr, M.INVOKED)
end

--- Turn ghost text on for `bufnr`: autocommands in a buffer-local group.
function M.attach(bufnr)
  M.define_highlight()
  local group = vim.api.nvim_create_augroup('codestral_ghost_' .. bufnr, { clear = true })
  local events = { 'TextChangedI', 'CursorMovedI' }
  if codestral().config.ghost_text_with_menu then
    events[#events + 1] = 'TextChangedP'
  end
  vim.api.nvim_create_autocmd(events, {
    group = group,
    buffer = bufnr,
    desc = 'codestral: ghost text',
    callback = function(event)
      M.on_change(event.buf)
    end,
  })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    desc = 'codestral: clear ghost text',
    callback = function(event)
      M.clear(event.buf)
    end,
  })
  if not codestral().config.ghost_text_with_menu then
    vim.api.nvim_create_autocmd('CompleteChanged', {
      group = group,
      buffer = bufnr,
      desc = 'codestral: no ghost text over the menu',
      callback = function(event)
        M.clear(event.buf)
      end,
    })
  end
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function(event)
      M.buffers[event.buf] = nil
      pcall(vim.api.nvim_del_augroup_by_id, group)
    end,
  })
end

--- Turn ghost text off for `bufnr`.
function M.detach(bufnr)
  M.clear(bufnr)
  pcall(vim.api.nvim_del_augroup_by_name, 'codestral_ghost_' .. bufnr)
  M.buffers[bufnr] = nil
end

return M
