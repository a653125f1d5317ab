--- Insert-mode keys of the ghost text, buffer-local, never clobbering the user's own mappings.
---
--- Accept, accept word, accept line and dismiss act only while a suggestion is shown; otherwise
--- the key does what it did before: the user's mapping of it (buffer-local one replaced by ours,
--- or global one) or, with none, the key itself.  "Request now" is not mapped over a mapping of
--- the user's.

local M = {}

--- Defaults, after copilot.vim (Tab, M-Right, M-C-Right, C-], M-\), which codeium.vim and
--- supermaven-nvim largely share.
M.defaults = {
  accept = '<Tab>',
  accept_word = '<M-Right>',
  accept_line = '<M-C-Right>',
  dismiss = '<C-]>',
  request = '<M-\\>',
}

M.descriptions = {
  accept = 'codestral: accept the suggestion',
  accept_word = 'codestral: accept the next word',
  accept_line = 'codestral: accept the next line',
  dismiss = 'codestral: dismiss the suggestion',
  request = 'codestral: suggest now',
}

local MARK = 'codestral: '

local function termcodes(keys)
  return vim.api.nvim_replace_termcodes(keys, true, true, true)
end

local function is_ours(map)
  return type(map.desc) == 'string' and vim.startswith(map.desc, MARK)
end

--- The insert-mode mapping of `lhs`, buffer-local ones of `bufnr` first, skipping ours.
local function search(maps, lhs)
  local raw = termcodes(lhs)
  for _, map in ipairs(maps) do
    if (map.lhsraw == raw or termcodes(map.lhs) == raw) and not is_ours(map) then
      return map
    end
  end
end

local function find_mapping(bufnr, lhs)
  return search(vim.api.nvim_buf_get_keymap(bufnr, 'i'), lhs) or search(vim.api.nvim_get_keymap('i'), lhs)
end

--- Buffer-local mappings of the user replaced by ours, by buffer: restored by `unset`.
M.replaced = {}

--- Callbacks of replaced mappings run through <Cmd> (an expr mapping may not edit the buffer).
M.fallbacks = {}

function M.run_fallback(index)
  local callback = M.fallbacks[index]
  if callback then
    callback()
  end
end

--- The keys doing what `lhs` did before, given the mapping found then (or nil).
local function fallback_keys(lhs, map)
  if not map then
    return termcodes(lhs)
  end
  local function keys(value)
    if type(value) ~= 'string' then
      return ''
    end
    return map.replace_keycodes == 1 and termcodes(value) or value
  end
  if map.callback then
    if map.expr == 1 then
      return keys(map.callback())
    end
    M.fallbacks[#M.fallbacks + 1] = map.callback
    return termcodes(string.format("<Cmd>lua require('codestral.keymaps').run_fallback(%d)<CR>", #M.fallbacks))
  end
  local rhs = map.rhs or ''
  if map.sid and map.sid > 0 then
    rhs = rhs:gsub('<[Ss][Ii][Dd]>', string.format('<SNR>%d_', map.sid))
  end
  if map.expr == 1 then
    return keys(vim.api.nvim_eval(rhs))
  end
  return termcodes(rhs)
end

--- Feed what `lhs` did before (remapping as the old mapping did).
local function fall_through(bufnr, lhs, saved)
  local map = saved or find_mapping(bufnr, lhs)
  local keys = fallback_keys(lhs, map)
  if keys == '' then
    return
  end
  -- A mapping's own rhs is remapped unless it was noremap; the bare key is never remapped.
  -- As for a mapping whose rhs starts with its lhs, that first key is not mapped again (it
  -- would come back here).  'i' puts the keys first in the typeahead: the tail goes in first.
  local remap = map ~= nil and map.noremap ~= 1
  local raw = termcodes(lhs)
  if remap and keys:sub(1, #raw) == raw then
    vim.api.nvim_feedkeys(keys:sub(#raw + 1), 'mi', false)
    vim.api.nvim_feedkeys(raw, 'ni', false)
  else
    vim.api.nvim_feedkeys(keys, remap and 'mi' or 'ni', false)
  end
end

--- Map the ghost-text keys of `bufnr`.
---@param bufnr integer
---@param keymaps table|false name -> lhs or false
---@param actions table<string, fun(): boolean> name -> action, returning whether it acted
function M.set(bufnr, keymaps, actions)
  if keymaps == false then
    return
  end
  for name, lhs in pairs(keymaps or {}) do
    local action = actions[name]
    if type(lhs) == 'string' and lhs ~= '' and action then
      local buffer_map = search(vim.api.nvim_buf_get_keymap(bufnr, 'i'), lhs)
      local existing = buffer_map or search(vim.api.nvim_get_keymap('i'), lhs)
      if buffer_map and name ~= 'request' then
        M.replaced[bufnr] = M.replaced[bufnr] or {}
        table.insert(M.replaced[bufnr], buffer_map)
      end
      if name == 'request' then
        if not existing then
          vim.keymap.set('i', lhs, action, { buffer = bufnr, desc = M.descriptions[name] })
        end
      else
        vim.keymap.set('i', lhs, function()
          if not action() then
            -- Nothing shown: the key's previous meaning (a replaced buffer-local mapping is
            -- kept here; a global one is looked up now, so later ones count too).
            fall_through(bufnr, lhs, buffer_map)
          end
        end, { buffer = bufnr, desc = M.descriptions[name] })
      end
    end
  end
end

--- Remove the ghost-text keys of `bufnr` (only ours), and put back what they replaced.
function M.unset(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) then
    M.replaced[bufnr] = nil
    return
  end
  for _, map in ipairs(vim.api.nvim_buf_get_keymap(bufnr, 'i')) do
    if is_ours(map) then
      pcall(vim.keymap.del, 'i', map.lhs, { buffer = bufnr })
    end
  end
  for _, map in ipairs(M.replaced[bufnr] or {}) do
    vim.api.nvim_buf_call(bufnr, function()
      pcall(vim.fn.mapset, 'i', false, map)
    end)
  end
  M.replaced[bufnr] = nil
end

return M
